"""Share links as operators, API clients and custodians meet them: revoking a link (API,
console, command line) and seeing what was downloaded (the job's shareLink, the downloads
listing, the access log export, the console's block). The pulls are real (moto S3 behind a
live server), their scripts run with bash and curl."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audit.models import ActorKind, AuditAction, AuditEvent
from jobs.models import JobObject
from sharelinks.models import ShareAccess, ShareLink
from sharelinks.serializers import ACCESS_COLUMNS

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

REASON = "sent to the wrong collaborator"


def revoke_url(job_id) -> str:
    return f"/api/v1/jobs/{job_id}/revoke"


def link_of(job: dict) -> ShareLink:
    return ShareLink.objects.get(job_id=job["id"])


def state_answer(link: ShareLink):
    """What the link itself answers a collaborator now (GET /s/<token>/)."""
    return Client().get(f"/s/{link.token}/")


def run_script(script: Path, target: Path) -> subprocess.CompletedProcess:
    target.mkdir(exist_ok=True)
    result = subprocess.run(
        ["bash", str(script), "--data-download-path", str(target)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def page(client: Client, job_id) -> str:
    response = client.get(reverse("admin:jobs_job_change", args=[job_id]))
    assert response.status_code == 200
    return response.content.decode()


# --- revoking through the API ----------------------------------------------------------------


def test_an_operator_revokes_a_link_and_it_then_answers_403(link_pull, operator_client):
    job, _ = link_pull()
    link = link_of(job)
    assert state_answer(link).status_code == 200
    response = operator_client.post(revoke_url(job["id"]), {"reason": REASON}, format="json")
    assert response.status_code == 200, response.content
    share = response.json()["shareLink"]
    assert share["state"] == "revoked"
    assert share["revokedBy"] == "olivia-operator"
    assert share["revokeReason"] == REASON
    assert share["revokedAt"] is not None
    refused = state_answer(link)
    assert refused.status_code == 403
    assert "revoked by the data custodian" in refused.content.decode()
    event = AuditEvent.objects.get(action=AuditAction.SHARE_LINK_REVOKED, job_id=job["id"])
    assert event.actor.username == "olivia-operator"
    assert event.actor_kind == ActorKind.TOKEN
    assert event.details["reason"] == REASON
    log = [line["message"] for line in operator_client.get(job["url"]).json()["log"]]
    assert f"Share link revoked by olivia-operator: {REASON}" in log


def test_a_viewer_may_not_revoke_and_the_link_keeps_working(link_pull, viewer_client):
    job, _ = link_pull()
    response = viewer_client.post(revoke_url(job["id"]), {"reason": REASON}, format="json")
    assert response.status_code == 403
    assert "Only operators may" in response.json()["detail"]
    assert link_of(job).revoked_at is None
    assert state_answer(link_of(job)).status_code == 200
    assert not AuditEvent.objects.filter(action=AuditAction.SHARE_LINK_REVOKED).exists()


@pytest.mark.parametrize(
    "body",
    [{}, {"reason": ""}, {"reason": "   "}, {"reason": "x" * 501}],
    ids=["missing", "empty", "blank", "too-long"],
)
def test_a_revocation_without_a_usable_reason_is_a_400_naming_reason(
    link_pull, operator_client, body
):
    job, _ = link_pull()
    response = operator_client.post(revoke_url(job["id"]), body, format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["reason"]
    assert "reason" in response.json()["reason"][0].lower()
    assert state_answer(link_of(job)).status_code == 200


def test_revoking_twice_is_a_409_that_says_when(link_pull, operator_client):
    job, _ = link_pull()
    first = operator_client.post(revoke_url(job["id"]), {"reason": REASON}, format="json")
    assert first.status_code == 200
    again = operator_client.post(revoke_url(job["id"]), {"reason": "again"}, format="json")
    assert again.status_code == 409
    assert "revoked on" in again.json()["detail"]
    assert link_of(job).revoke_reason == REASON
    assert AuditEvent.objects.filter(action=AuditAction.SHARE_LINK_REVOKED).count() == 1


@pytest.mark.parametrize(
    ("dryrun", "words"),
    [(True, "a dry run shares nothing"), (False, "hands out presigned links")],
    ids=["pull-dry-run", "presigned-pull"],
)
def test_a_job_without_a_share_link_has_nothing_to_revoke_nor_count(
    launch, demo, operator_client, settings, dryrun, words
):
    settings.PUBLIC_BASE_URL = None
    response = launch(
        shareType="pull", dryrun=dryrun, libraryIdList=["L2400003"], dataTypeList=["Fastq"]
    )
    job = operator_client.get(response.json()["url"]).json()
    assert job["status"] == "SUCCEEDED"
    assert job["shareLink"] is None
    revoked = operator_client.post(revoke_url(job["id"]), {"reason": REASON}, format="json")
    assert revoked.status_code == 409
    assert words in revoked.json()["detail"]
    for path in ("downloads", "access-log/export?format=csv"):
        answer = operator_client.get(f"/api/v1/jobs/{job['id']}/{path}")
        assert answer.status_code == 409, path
        assert words in answer.json()["detail"]


# --- revoking from the command line ----------------------------------------------------------


def test_revoke_share_revokes_as_the_command_line(link_pull, operator):
    job, _ = link_pull()
    out = io.StringIO()
    call_command("revoke_share", job["id"], reason=REASON, user=operator.username, stdout=out)
    assert f"Revoked the share link of job {job['id']}" in out.getvalue()
    assert state_answer(link_of(job)).status_code == 403
    event = AuditEvent.objects.get(action=AuditAction.SHARE_LINK_REVOKED)
    assert (event.actor_kind, event.actor) == (ActorKind.CLI, operator)
    assert event.details["reason"] == REASON


def test_revoke_share_refuses_what_it_cannot_do(link_pull, operator, viewer):
    job, _ = link_pull()

    def refusal(*args, **options) -> str:
        with pytest.raises(CommandError) as error:
            call_command("revoke_share", *args, stdout=io.StringIO(), **options)
        return str(error.value)

    user = operator.username
    assert "--reason: Say why" in refusal(job["id"], user=user)
    assert "cannot be blank" in refusal(job["id"], reason="  ", user=user)
    assert "is not a job id" in refusal("nope", reason=REASON, user=user)
    unknown = "6769bef8-06d7-4af4-bfaf-922f3d95ec8b"
    assert "No job with id" in refusal(unknown, reason=REASON, user=user)
    assert "only operators may" in refusal(job["id"], reason=REASON, user=viewer.username)
    assert state_answer(link_of(job)).status_code == 200  # none of those revoked it
    call_command("revoke_share", job["id"], reason=REASON, user=user, stdout=io.StringIO())
    assert "revoked on" in refusal(job["id"], reason=REASON, user=user)


def test_revoke_share_refuses_a_job_without_a_link(launch, demo, operator):
    response = launch(
        shareType="pull", dryrun=True, libraryIdList=["L2400003"], dataTypeList=["Fastq"]
    )
    with pytest.raises(CommandError, match="a dry run shares nothing"):
        call_command(
            "revoke_share",
            response.json()["id"],
            reason=REASON,
            user=operator.username,
            stdout=io.StringIO(),
        )


# --- what was downloaded ---------------------------------------------------------------------


def test_share_link_field_counts_a_real_script_run_and_its_receipt(
    link_pull, operator_client, tmp_path
):
    job, script = link_pull()
    before = operator_client.get(job["url"]).json()["shareLink"]
    total = job["progress"]["objectsTotal"]
    assert before["state"] == "active"
    assert before["downloads"] == {
        "filesTotal": total,
        "filesFetched": 0,
        "requests": 1,  # the script's own download
        "refused": 0,
    }
    assert before["receipt"] is None
    run_script(script, tmp_path / "share")
    after = operator_client.get(job["url"]).json()["shareLink"]
    assert after["downloads"]["filesFetched"] == total
    assert after["downloads"]["refused"] == 0
    assert after["downloads"]["requests"] > total
    receipt = after["receipt"]
    assert (receipt["filesTotal"], receipt["filesOk"], receipt["filesFailed"]) == (total, total, 0)
    assert receipt["summary"].startswith(f"received: {total} of {total} files verified by the")


def test_downloads_lists_each_object_and_filters_by_fetched(
    link_pull, operator_client, viewer_client
):
    job, _ = link_pull()
    link = link_of(job)
    first, second = JobObject.objects.filter(job_id=job["id"]).order_by("position")[:2]
    collaborator = Client()
    assert collaborator.get(f"/s/{link.token}/files/{first.position}").status_code == 302
    resumed = collaborator.get(f"/s/{link.token}/files/{first.position}", HTTP_RANGE="bytes=5-")
    assert resumed.status_code == 302
    url = f"/api/v1/jobs/{job['id']}/downloads"
    listing = viewer_client.get(url).json()
    rows = {row["position"]: row for row in listing["results"]}
    assert listing["objectsTotal"] == len(rows) == job["progress"]["objectsTotal"]
    fetched = rows[first.position]
    assert fetched["relativePath"] == first.relative_path
    assert fetched["sourceUri"] == first.source_uri
    assert fetched["fetchCount"] == 2
    assert fetched["bytesRequested"] == first.size + (first.size - 5)
    assert fetched["firstFetchedAt"] <= fetched["lastFetchedAt"]
    never = rows[second.position]
    assert (never["fetchCount"], never["bytesRequested"], never["firstFetchedAt"]) == (0, 0, None)
    only_fetched = operator_client.get(url, {"fetched": "true"}).json()["results"]
    assert [row["position"] for row in only_fetched] == [first.position]
    not_fetched = operator_client.get(url, {"fetched": "false"}).json()["results"]
    assert first.position not in [row["position"] for row in not_fetched]
    assert len(not_fetched) == len(rows) - 1
    assert operator_client.get(url, {"fetched": "maybe"}).status_code == 400


def test_a_downloads_page_reads_the_access_log_once(link_pull, operator_client):
    job, script = link_pull()
    run_script(script, script.parent / "share")
    for size in (1, 3):
        with CaptureQueriesContext(connection) as queries:
            response = operator_client.get(
                f"/api/v1/jobs/{job['id']}/downloads", {"pageSize": size}
            )
        assert len(response.json()["results"]) == size
        reads = [q["sql"] for q in queries if "sharelinks_shareaccess" in q["sql"]]
        assert len(reads) == 1, reads


def test_the_jobs_list_reads_share_links_with_the_jobs(link_pull, operator_client):
    """The list named each pull's link through a query of its own (outputs)."""
    link_pull()

    def queries_for_list() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert operator_client.get("/api/v1/jobs").status_code == 200
        return len(queries)

    one = queries_for_list()
    link_pull()
    assert queries_for_list() == one


# --- the access log export -------------------------------------------------------------------


def test_access_log_exports_as_csv_and_json_without_tokens(link_pull, viewer_client, tmp_path):
    job, script = link_pull()
    run_script(script, tmp_path / "share")
    link = link_of(job)
    logged = ShareAccess.objects.filter(share=link).count()
    url = f"/api/v1/jobs/{job['id']}/access-log/export"

    as_csv = viewer_client.get(url, {"format": "csv"})
    assert as_csv.status_code == 200
    assert as_csv["Content-Type"].startswith("text/csv")
    text = b"".join(as_csv.streaming_content).decode()
    assert link.token not in text
    lines = list(csv.DictReader(io.StringIO(text)))
    assert list(lines[0]) == ACCESS_COLUMNS
    assert len(lines) == logged
    assert lines[0]["resource"] == "data-download.sh"
    paths = {row["relativePath"] for row in lines if row["resource"].startswith("files/")}
    assert paths == set(
        JobObject.objects.filter(job_id=job["id"]).values_list("relative_path", flat=True)
    )

    as_json = viewer_client.get(url, {"format": "json"})
    body = b"".join(as_json.streaming_content).decode()
    assert link.token not in body
    rows = json.loads(body)
    assert len(rows) == logged
    assert set(rows[-1]) == set(ACCESS_COLUMNS)
    assert rows[-1]["resource"] == "receipt"
    assert all(row["allowed"] is True for row in rows)

    refused = viewer_client.get(url, {"format": "xml"})
    assert refused.status_code == 400
    assert list(refused.json()) == ["format"]


# --- the console -----------------------------------------------------------------------------


def test_the_job_page_shows_the_link_and_what_was_downloaded(link_pull, operator, tmp_path):
    job, script = link_pull()
    client = browser(operator)
    total = job["progress"]["objectsTotal"]
    before = page(client, job["id"])
    assert 'id="share-link"' in before
    assert "no receipt yet" in before
    assert f"files fetched 0 of {total}" in before
    assert 'name="_revoke"' in before
    run_script(script, tmp_path / "share")
    after = page(client, job["id"])
    assert f"received: {total} of {total} files verified by the collaborator at" in after
    assert f"files fetched {total} of {total}" in after
    assert "access-log/export?format=csv" in after
    assert 'id="share-link-accesses"' in after
    for path in JobObject.objects.filter(job_id=job["id"]).values_list("relative_path", flat=True):
        assert path in after


def test_an_operator_revokes_from_the_job_page(link_pull, operator):
    job, _ = link_pull()
    client = browser(operator)
    url = reverse("admin:jobs_job_change", args=[job["id"]])
    blank = client.post(url, {"_revoke": "", "reason": " "}, follow=True)
    assert "Not revoked: Say why the link is revoked" in blank.content.decode()
    assert link_of(job).revoked_at is None
    done = client.post(url, {"_revoke": "", "reason": REASON}, follow=True)
    text = done.content.decode()
    assert "Share link revoked" in text
    assert state_answer(link_of(job)).status_code == 403
    assert REASON in text
    assert 'name="_revoke"' not in text  # revoked: no form any more
    event = AuditEvent.objects.get(action=AuditAction.SHARE_LINK_REVOKED)
    assert (event.actor, event.actor_kind) == (operator, ActorKind.SESSION)


def test_a_viewer_sees_the_link_but_no_revoke_form(link_pull, viewer):
    job, _ = link_pull()
    client = browser(viewer)
    text = page(client, job["id"])
    assert 'id="share-link"' in text
    assert 'name="_revoke"' not in text
    url = reverse("admin:jobs_job_change", args=[job["id"]])
    assert client.post(url, {"_revoke": "", "reason": REASON}).status_code == 403
    assert state_answer(link_of(job)).status_code == 200


def test_share_links_accesses_and_receipts_are_searchable_and_read_only(link_pull, viewer):
    job, _ = link_pull()
    client = browser(viewer)
    for model in ("sharelink", "shareaccess", "receipt"):
        listing = client.get(reverse(f"admin:sharelinks_{model}_changelist"), {"q": job["id"]})
        assert listing.status_code == 200, model
        assert client.get(reverse(f"admin:sharelinks_{model}_add")).status_code == 403
    accesses = client.get(reverse("admin:sharelinks_shareaccess_changelist"), {"q": job["id"]})
    assert "data-download.sh" in accesses.content.decode()


def test_the_job_page_lists_only_the_last_requests(link_pull, operator):
    job, _ = link_pull()
    link = link_of(job)
    ShareAccess.objects.bulk_create(
        ShareAccess(share=link, resource=f"files/{n}", via="download", allowed=False, status=404)
        for n in range(1000, 1030)
    )
    text = page(browser(operator), job["id"])
    table = text.split('id="share-link-accesses"')[1].split("</table>")[0]
    assert table.count("<tr") == 1 + 20  # the header and the last 20
    assert "files/1029" in table
    assert "files/1009" not in table
    assert "31 requests, 30 refused" in text
