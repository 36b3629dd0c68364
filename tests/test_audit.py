"""The audit trail: what the API, the console, the command line and the workers record, that no
one can change it (the ORM, and PostgreSQL itself), and how it is read back (the API, its
CSV and JSON export, the console, audit_report)."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from audit.context import acting_as, current_actor
from audit.models import AuditEvent, AuditTrailIsAppendOnly
from audit.services import LEFT_OUT, record
from jobs.models import Job
from recipients.models import Recipient
from sharing_project.s3.objects import ensure_bucket

pytestmark = pytest.mark.django_db

CLIENT = "203.0.113.9"
PURPOSE = "DAA-0042"
PULL = {
    "libraryIdList": ["L2400001"],
    "dataTypeList": ["Fastq"],
    "shareType": "pull",
    "recipientId": "garvan-ccg",
    "purpose": PURPOSE,
}
PUSH = {
    "projectIdList": ["CUP"],
    "dataTypeList": ["Fastq"],
    "shareType": "push",
    "shareDestination": "s3://collaborator-bucket/cup/run-1/",
    "recipientId": "garvan-ccg",
    "purpose": PURPOSE,
}


@pytest.fixture
def post(operator_client, django_capture_on_commit_callbacks):
    """POST as the operator (with an API token) from CLIENT; queued tasks run once committed."""

    def send(url: str, payload: dict | None = None, client: APIClient | None = None, **extra):
        with django_capture_on_commit_callbacks(execute=True):
            return (client or operator_client).post(
                url, payload, format="json", REMOTE_ADDR=CLIENT, **extra
            )

    return send


def events_of(job_id) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(job_id=job_id).order_by("at", "id"))


def actions_of(job_id) -> list[str]:
    return [event.action for event in events_of(job_id)]


def one(job_id, action: str) -> AuditEvent:
    return AuditEvent.objects.select_related("actor", "recipient").get(job_id=job_id, action=action)


# --- what is recorded -----------------------------------------------------------------------


def test_a_dry_run_and_its_push_record_who_where_for_whom_counts_and_bytes(
    post, demo, recipient, operator, operator_client
):
    ensure_bucket("collaborator-bucket")
    dry = post("/api/v1/jobs", {**PUSH, "dryrun": True}).json()
    push = post("/api/v1/jobs", PUSH).json()
    assert operator_client.get(push["url"]).json()["status"] == "SUCCEEDED"

    assert actions_of(dry["id"]) == ["launched", "dry_run_started", "dry_run_ended"]
    assert actions_of(push["id"]) == ["launched", "push_started", "push_ended"]
    launched = one(push["id"], "launched")
    assert launched.actor == operator
    assert launched.actor_kind == "token"
    token = Token.objects.get(user=operator)
    assert launched.credential == (
        f"API token of olivia-operator, created {token.created:%Y-%m-%d %H:%M:%S %Z}"
    )
    assert launched.client_address == CLIENT
    assert launched.recipient == recipient
    assert launched.purpose == PURPOSE
    assert launched.details["request"] == push["request"]
    assert launched.details["kind"] == "push"
    assert launched.details["fingerprint"] == push["fingerprint"]
    assert launched.details["sourceDryRunJobId"] == dry["id"]
    # The worker acts for the launcher, from no address.
    ended = one(push["id"], "push_ended")
    assert (ended.actor, ended.actor_kind, ended.client_address) == (operator, "worker", None)
    assert (ended.recipient, ended.purpose) == (recipient, PURPOSE)
    job = Job.objects.get(pk=push["id"])
    assert ended.details == {
        "status": "SUCCEEDED",
        "objectsDone": job.objects_done,
        "objectsTotal": job.objects_total,
        "bytesDone": job.bytes_done,
        "bytesTotal": job.bytes_total,
    }
    assert job.bytes_done == job.bytes_total > 0
    dry_end = one(dry["id"], "dry_run_ended")
    assert dry_end.details["objectsTotal"] == job.objects_total
    # Nothing anywhere in the trail names the token's key.
    assert token.key not in json.dumps(
        list(AuditEvent.objects.values("credential", "details", "purpose"))
    )


def test_a_pull_records_its_links_issued_but_never_the_links(post, demo, recipient, operator):
    pull = post("/api/v1/jobs", PULL).json()
    assert actions_of(pull["id"]) == ["launched", "pull_started", "pull_ended", "links_issued"]
    job = Job.objects.get(pk=pull["id"])
    issued = one(pull["id"], "links_issued")
    assert issued.details == {
        "outputs": ["limsCsv", "dataDownloadScript", "checksums"],
        "files": {
            "limsCsv": job.lims_csv_uri,
            "dataDownloadScript": job.download_script_uri,
            "checksums": job.checksums_uri,
        },
        "expiresAt": job.links_expire_at.isoformat(),
        "objects": job.objects_total,
        "bytes": job.bytes_total,
        "shareLink": False,  # presigned links (no PUBLIC_BASE_URL)
    }
    assert (issued.actor, issued.recipient, issued.purpose) == (operator, recipient, PURPOSE)
    trail = json.dumps(list(AuditEvent.objects.values()), default=str)
    assert job.download_script_url
    assert job.download_script_url not in trail
    assert "X-Amz-Signature" not in trail


def test_abort_of_a_pending_job_records_who_aborted_and_how_it_ended(
    operator_client, post, demo, recipient, viewer
):
    # Without the commit hook running, the job stays queued: as if no worker had taken it.
    job = operator_client.post("/api/v1/jobs", {**PULL, "dryrun": True}, format="json").json()
    assert post(f"/api/v1/jobs/{job['id']}/abort").status_code == 202
    assert actions_of(job["id"]) == ["launched", "abort_requested", "dry_run_ended"]
    abort, ended = events_of(job["id"])[1:]
    assert abort.details == {}
    assert ended.details["status"] == "ABORTED"
    for event in (abort, ended):
        assert event.actor.username == "olivia-operator"
        assert (event.actor_kind, event.client_address) == ("token", CLIENT)


def test_rerun_and_new_links_are_recorded(post, demo, recipient, operator):
    pull = post("/api/v1/jobs", PULL).json()
    assert post(f"/api/v1/jobs/{pull['id']}/new-links").status_code == 202
    rerun = post(f"/api/v1/jobs/{pull['id']}/rerun").json()

    assert actions_of(pull["id"])[-3:] == ["links_requested", "links_renewed", "rerun"]
    requested = one(pull["id"], "links_requested")
    assert (requested.actor_kind, requested.client_address) == ("token", CLIENT)
    renewed = one(pull["id"], "links_renewed")
    assert (renewed.actor, renewed.actor_kind) == (operator, "worker")
    job = Job.objects.get(pk=pull["id"])
    assert renewed.details["expiresAt"] == job.links_expire_at.isoformat()
    assert one(pull["id"], "rerun").details == {"rerunJobId": rerun["id"]}
    assert actions_of(rerun["id"])[0] == "launched"
    assert one(rerun["id"], "launched").details["request"] == pull["request"]


def test_a_share_launched_and_aborted_on_the_command_line_is_the_commands_user(
    demo, operator, recipient
):
    out = io.StringIO()
    call_command("share", "--json", "--user", operator.username, *pull_options(), stdout=out)
    job_id = json.loads(out.getvalue())["id"]
    call_command("abort_job", job_id, "--user", operator.username, stdout=io.StringIO())
    for event in events_of(job_id):
        assert (event.actor, event.actor_kind, event.client_address) == (operator, "cli", None)
    assert actions_of(job_id) == ["launched", "abort_requested", "dry_run_ended"]
    # The commands have ended: what this process records next is not put down to their user.
    assert current_actor().user is None


def pull_options() -> list[str]:
    return [
        "--library-id=L2400001",
        "--data-type=Fastq",
        "--share-type=pull",
        "--recipient-id=garvan-ccg",
        f"--purpose={PURPOSE}",
        "--dryrun",
    ]


def test_after_a_request_or_a_task_nobody_is_left_acting(post, demo, recipient):
    assert post("/api/v1/jobs", {**PULL, "dryrun": True}).status_code == 202
    assert current_actor().kind == "cli"
    assert current_actor().user is None


@pytest.mark.parametrize(
    ("proxies", "forwarded_for", "expected"),
    [
        (0, "192.0.2.99", CLIENT),  # no proxy: a client's X-Forwarded-For is ignored
        (1, "203.0.113.5", "203.0.113.5"),
        (1, "192.0.2.99, 203.0.113.5", "203.0.113.5"),  # one the client wrote is passed over
    ],
)
def test_behind_a_proxy_the_address_is_the_one_it_forwarded(
    post, demo, recipient, settings, proxies, forwarded_for, expected
):
    if proxies:  # what settings.py sets for FORWARDED_FOR_PROXIES=1
        settings.AXES_IPWARE_META_PRECEDENCE_ORDER = ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR")
        settings.AXES_IPWARE_PROXY_COUNT = 0
        settings.IPWARE_STRICT = False
    job = post("/api/v1/jobs", {**PULL, "dryrun": True}, HTTP_X_FORWARDED_FOR=forwarded_for)
    job = job.json()
    assert one(job["id"], "launched").client_address == expected


# --- recipients' changes (django-auditlog) --------------------------------------------------


def test_a_recipient_added_and_edited_in_the_console_is_recorded_with_what_changed(
    operator,
):
    console = Client(REMOTE_ADDR=CLIENT)
    console.force_login(operator)
    fields = {
        "recipient_id": "peter-mac",
        "name": "Peter MacCallum",
        "contact_emails": "a@example.org",
        "allowed_destinations": "s3://pmcc-inbox/dsm",
        "active": "on",
    }
    assert console.post("/admin/recipients/recipient/add/", fields).status_code == 302
    added = Recipient.objects.get(recipient_id="peter-mac")
    change = reverse("admin:recipients_recipient_change", args=[added.pk])
    edited = {**fields, "name": "Peter MacCallum Cancer Centre", "allowed_destinations": ""}
    assert console.post(change, edited).status_code == 302

    first, second = AuditEvent.objects.filter(recipient=added).order_by("at", "id")
    assert first.action == "recipient_added"
    assert first.details["changes"] == {
        "recipient_id": [None, "peter-mac"],
        "name": [None, "Peter MacCallum"],
        "organisation": [None, ""],
        "contact_emails": [None, ["a@example.org"]],
        "allowed_destinations": [None, ["s3://pmcc-inbox/dsm/"]],
        "notify_contacts": [None, False],
        "notes": [None, ""],
        "active": [None, True],
    }
    assert second.action == "recipient_changed"
    assert second.details["changes"] == {
        "name": ["Peter MacCallum", "Peter MacCallum Cancer Centre"],
        "allowed_destinations": [["s3://pmcc-inbox/dsm/"], []],
    }
    for event in (first, second):
        assert (event.actor, event.actor_kind, event.client_address) == (
            operator,
            "session",
            CLIENT,
        )
        assert event.job is None
    # django-auditlog's own entry has the same actor and address.
    from auditlog.models import LogEntry

    entry = LogEntry.objects.get(pk=second.details["logEntryId"])
    assert (entry.actor, entry.remote_addr) == (operator, CLIENT)


def test_every_field_the_console_edits_is_tracked():
    from auditlog.registry import auditlog

    from recipients.admin import RecipientAdmin

    assert auditlog.contains(Recipient)
    assert sorted(auditlog.get_model_fields(Recipient)["include_fields"]) == sorted(
        RecipientAdmin.fields
    )


def test_a_recipient_saved_unchanged_records_nothing(recipient):
    before = AuditEvent.objects.count()
    recipient.save()
    assert AuditEvent.objects.count() == before


# --- nobody can change the trail ------------------------------------------------------------


def test_an_event_cannot_be_changed_or_deleted_through_the_orm(recipient):
    event = AuditEvent.objects.get(recipient=recipient)
    event.purpose = "rewritten"
    with pytest.raises(AuditTrailIsAppendOnly):
        event.save()
    with pytest.raises(AuditTrailIsAppendOnly):
        event.delete()
    with pytest.raises(AuditTrailIsAppendOnly):
        AuditEvent.objects.filter(pk=event.pk).update(purpose="rewritten")
    with pytest.raises(AuditTrailIsAppendOnly):
        AuditEvent.objects.all().delete()
    with pytest.raises(AuditTrailIsAppendOnly), transaction.atomic():
        AuditEvent.objects.bulk_update([event], ["purpose"])
    assert AuditEvent.objects.get(pk=event.pk).purpose == ""


def test_what_an_event_names_cannot_be_deleted_from_under_it(recipient, operator):
    from django.db.models import ProtectedError

    record("rerun", recipient=recipient, user=operator)
    with pytest.raises(ProtectedError):
        recipient.delete()
    with pytest.raises(ProtectedError):
        operator.delete()


def test_on_postgresql_the_database_refuses_to_update_or_delete_an_event(recipient):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL): the refusal is a trigger there")
    event = AuditEvent.objects.get(recipient=recipient)
    table = AuditEvent._meta.db_table
    for sql in (
        f"UPDATE {table} SET purpose = 'rewritten' WHERE id = %s",  # noqa: S608
        f"DELETE FROM {table} WHERE id = %s",  # noqa: S608
    ):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, [event.pk])
    assert AuditEvent.objects.filter(pk=event.pk, purpose="").exists()
    # TRUNCATE is left alone: the test framework empties tables with it (once the inserts'
    # deferred foreign key checks are done, as they are at a commit).
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"TRUNCATE {table}")
    assert not AuditEvent.objects.exists()


def test_a_presigned_url_never_reaches_an_event(db):
    link = "https://bucket.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4&X-Amz-Signature=abc123"
    event = record("links_renewed", note=link, nested={"urls": [link, "s3://bucket/k"]})
    event.refresh_from_db()
    assert event.details == {"note": LEFT_OUT, "nested": {"urls": [LEFT_OUT, "s3://bucket/k"]}}


# --- the API --------------------------------------------------------------------------------


@pytest.fixture
def trail(recipient, operator, viewer):
    """Events of two recipients and two users, an hour apart, newest last."""
    other = Recipient.objects.create(recipient_id="peter-mac", name="Peter Mac")
    start = timezone.now() - timedelta(days=1)
    made = []
    for n in range(6):
        with acting_as(None):
            event = AuditEvent(
                at=start + timedelta(hours=n),
                action="links_requested" if n % 2 else "rerun",
                actor=operator if n < 4 else viewer,
                actor_kind="token",
                recipient=recipient if n % 3 else other,
                purpose=f"purpose {n}",
                details={"n": n},
            )
            event.save()
            made.append(event)
    return made


def listed(client, query: str = "") -> dict:
    response = client.get(f"/api/v1/audit-events{query}")
    assert response.status_code == 200, response.content
    return response.json()


def test_the_api_lists_events_newest_first_and_filters_them(viewer_client, trail, operator):
    everything = listed(viewer_client)
    assert everything["count"] == AuditEvent.objects.count() == 8  # and the 2 recipients added
    ns = [e["details"]["n"] for e in everything["results"] if "n" in e["details"]]
    assert ns == [5, 4, 3, 2, 1, 0]
    row = everything["results"][0]
    assert set(row) == {
        "id",
        "at",
        "action",
        "actor",
        "actorKind",
        "credential",
        "clientAddress",
        "jobId",
        "recipientId",
        "purpose",
        "details",
    }

    def ns_of(query: str) -> list[int]:
        return sorted(e["details"]["n"] for e in listed(viewer_client, query)["results"])

    assert ns_of("?recipientId=garvan-ccg&action=rerun") == [2, 4]
    assert ns_of("?user=victor-viewer") == [4, 5]
    assert ns_of("?action=rerun&action=links_requested&recipientId=peter-mac") == [0, 3]
    since, until = trail[2].at.isoformat(), trail[4].at.isoformat()
    assert ns_of(f"?since={since.replace('+00:00', 'Z')}&until={until.replace('+00:00', 'Z')}") == [
        2,
        3,
    ]
    assert listed(viewer_client, "?recipientId=nobody")["count"] == 0
    page = listed(viewer_client, "?pageSize=4&user=olivia-operator")
    assert page["count"] == 4
    assert page["next"] is None
    page = listed(viewer_client, "?pageSize=3")
    assert len(page["results"]) == 3
    assert "page=2" in page["next"]


def test_the_api_lists_a_jobs_events(post, demo, recipient, viewer_client):
    job = post("/api/v1/jobs", {**PULL, "dryrun": True}).json()
    rows = listed(viewer_client, f"?jobId={job['id']}")["results"]
    assert [r["action"] for r in rows] == ["dry_run_ended", "dry_run_started", "launched"]
    assert rows[2]["actor"] == "olivia-operator"
    assert rows[2]["recipientId"] == "garvan-ccg"
    assert rows[2]["clientAddress"] == CLIENT
    assert rows[2]["details"]["request"] == job["request"]


@pytest.mark.parametrize(
    ("query", "field", "says"),
    [
        ("since=yesterday", "since", "Give an ISO 8601 date or time"),
        ("until=2026-13-40", "until", "Give an ISO 8601 date or time"),
        ("jobId=not-a-uuid", "jobId", "Give a job id"),
        ("action=deleted", "action", "not one of the available choices"),
        ("recipientId=", "recipientId", "give a value, or leave the parameter out"),
    ],
)
def test_a_bad_filter_is_a_400_that_names_it(viewer_client, trail, query, field, says):
    for url in (f"/api/v1/audit-events?{query}", f"/api/v1/audit-events/export?format=csv&{query}"):
        response = viewer_client.get(url)
        assert response.status_code == 400, (url, response.content)
        assert says in " ".join(response.json()[field])


def test_a_page_past_the_last_or_not_a_number_is_refused(viewer_client, trail):
    assert viewer_client.get("/api/v1/audit-events?page=0").status_code == 400
    assert viewer_client.get("/api/v1/audit-events?page=99").status_code == 404


def test_the_event_list_costs_the_same_whatever_its_length(viewer_client, trail):
    with CaptureQueriesContext(connection) as few:
        listed(viewer_client)
    for n in range(20):
        record("rerun", recipient=trail[0].recipient, n=n)
    with CaptureQueriesContext(connection) as many:
        listed(viewer_client)
    assert len(many) == len(few)


def test_the_export_streams_every_filtered_event_as_csv_and_json(viewer_client, trail, recipient):
    for n in range(150):  # more than a page
        record("rerun", recipient=recipient, user=trail[0].actor, n=100 + n)
    query = "recipientId=garvan-ccg&action=rerun"
    as_json = viewer_client.get(f"/api/v1/audit-events/export?format=json&{query}")
    assert as_json.status_code == 200
    assert as_json["Content-Type"] == "application/json"
    assert as_json.streaming
    rows = json.loads(b"".join(as_json.streaming_content))
    assert [r["details"]["n"] for r in rows] == [2, 4, *range(100, 250)]  # oldest first
    assert all(r["recipientId"] == "garvan-ccg" and r["action"] == "rerun" for r in rows)

    as_csv = viewer_client.get(f"/api/v1/audit-events/export?format=csv&{query}")
    assert as_csv["Content-Type"] == "text/csv; charset=utf-8"
    assert as_csv["Content-Disposition"] == 'attachment; filename="audit-events.csv"'
    lines = list(csv.DictReader(io.StringIO(b"".join(as_csv.streaming_content).decode())))
    assert len(lines) == len(rows)
    for line, row in zip(lines, rows, strict=True):
        assert json.loads(line["details"]) == row["details"]
        assert line["id"] == str(row["id"])
        assert line["at"] == row["at"]
        assert line["actor"] == row["actor"]
        assert line["recipientId"] == "garvan-ccg"


@pytest.mark.parametrize("given", ["", "?format=xml", "?format="])
def test_the_export_needs_csv_or_json(viewer_client, trail, given):
    response = viewer_client.get(f"/api/v1/audit-events/export{given}")
    assert response.status_code == 400
    assert "give csv or json" in response.json()["format"][0]


def test_viewers_read_the_trail_and_others_do_not(viewer_client, anonymous_client, trail):
    assert viewer_client.get("/api/v1/audit-events").status_code == 200
    assert viewer_client.get("/api/v1/audit-events/export?format=csv").status_code == 200
    assert anonymous_client.get("/api/v1/audit-events").status_code == 401
    assert anonymous_client.get("/api/v1/audit-events/export?format=csv").status_code == 401
    stranger = APIClient()
    stranger.force_authenticate(User.objects.create_user("stranger"))
    assert stranger.get("/api/v1/audit-events").status_code == 403
    assert stranger.get("/api/v1/audit-events/export?format=json").status_code == 403
    # Not even a superuser writes through the API.
    root = APIClient()
    root.force_authenticate(User.objects.create_superuser("root"))
    assert root.post("/api/v1/audit-events", {}).status_code == 405
    assert root.delete(f"/api/v1/audit-events/{trail[0].pk}").status_code == 404


def test_the_schema_declares_the_list_and_the_export(operator_client):
    paths = operator_client.get("/api/schema?format=json").json()["paths"]
    listing = paths["/api/v1/audit-events"]["get"]
    names = {p["name"] for p in listing["parameters"]}
    assert {"recipientId", "user", "action", "jobId", "since", "until", "page", "pageSize"} <= names
    export = paths["/api/v1/audit-events/export"]["get"]
    parameters = {p["name"]: p for p in export["parameters"]}
    assert {"recipientId", "user", "action", "jobId", "since", "until"} <= set(parameters)
    assert "page" not in parameters  # every event, not a page
    assert parameters["format"]["required"] is True
    assert parameters["format"]["schema"]["enum"] == ["csv", "json"]
    assert set(export["responses"]["200"]["content"]) == {"text/csv", "application/json"}


# --- the console ----------------------------------------------------------------------------


def test_the_console_shows_the_trail_read_only_with_its_filters(client, viewer, trail):
    client.force_login(viewer)
    changelist = reverse("admin:audit_auditevent_changelist")
    page = client.get(changelist)
    assert page.status_code == 200
    text = page.content.decode()
    for heading in ("By recipient", "By actor", "By action"):
        assert heading in text
    assert "garvan-ccg" in text
    assert "purpose 5" in text
    filtered = client.get(changelist, {"recipient__id__exact": str(trail[0].recipient.pk)})
    assert "purpose 0" in filtered.content.decode()
    assert "purpose 1" not in filtered.content.decode()
    event = reverse("admin:audit_auditevent_change", args=[trail[0].pk])
    shown = client.get(event)
    assert shown.status_code == 200
    assert "purpose 0" in shown.content.decode()
    assert 'name="_save"' not in shown.content.decode()
    assert client.post(event, {"purpose": "rewritten"}).status_code == 403
    assert client.get(reverse("admin:audit_auditevent_add")).status_code == 403
    delete = reverse("admin:audit_auditevent_delete", args=[trail[0].pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.get(pk=trail[0].pk).purpose == "purpose 0"


def test_the_console_links_an_event_to_its_job_and_recipient(
    client, operator, post, demo, recipient
):
    job = post("/api/v1/jobs", {**PULL, "dryrun": True}).json()
    client.force_login(operator)
    trail_url = f"{reverse('admin:audit_auditevent_changelist')}?job={job['id']}"
    job_page = client.get(reverse("admin:jobs_job_change", args=[job["id"]])).content.decode()
    assert f'href="{trail_url}"' in job_page
    text = client.get(trail_url).content.decode()
    assert text.count('class="field-action"') == 3  # launched, started, ended: this job's only
    assert reverse("admin:jobs_job_change", args=[job["id"]]) in text
    assert reverse("admin:recipients_recipient_change", args=[recipient.pk]) in text


# --- audit_report ---------------------------------------------------------------------------


def report(*args: str) -> str:
    out = io.StringIO()
    call_command("audit_report", *args, stdout=out)
    return out.getvalue()


def test_audit_report_prints_a_recipients_events_since_a_date(trail):
    since = trail[2].at.date().isoformat()
    text = report("--recipient", "garvan-ccg", "--since", since)
    lines = text.splitlines()
    assert lines[0].split() == [
        "at",
        "(UTC)",
        "action",
        "who",
        "job",
        "recipient",
        "purpose",
        "address",
        "facts",
    ]
    chosen = AuditEvent.objects.filter(
        recipient__recipient_id="garvan-ccg", at__date__gte=trail[2].at.date()
    ).order_by("at", "id")
    assert lines[-1] == f"{len(chosen)} event(s)"
    body = lines[1:-1]
    assert [line.split("  ")[0] for line in body] == [f"{e.at:%Y-%m-%d %H:%M:%S}" for e in chosen]
    assert all("peter-mac" not in line for line in body)
    assert "olivia-operator (token)" in body[0]


def test_audit_report_writes_csv_and_json_as_the_api_exports(trail, viewer_client):
    as_json = json.loads(report("--user", "victor-viewer", "--format", "json"))
    api = viewer_client.get("/api/v1/audit-events/export?format=json&user=victor-viewer")
    assert as_json == json.loads(b"".join(api.streaming_content))
    assert [row["details"]["n"] for row in as_json] == [4, 5]
    as_csv = list(csv.DictReader(io.StringIO(report("--action", "rerun", "--format", "csv"))))
    assert [json.loads(row["details"])["n"] for row in as_csv] == [0, 2, 4]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "last tuesday"], "--since: Give an ISO 8601 date or time"),
        (["--until", "2026-02-30"], "--until: Give an ISO 8601 date or time"),
        (["--recipient", "nobody"], "--recipient: no recipient 'nobody'"),
        (["--user", "nobody"], "--user: no user 'nobody'"),
        (["--job", "42"], "--job: Give a job id: a UUID"),
    ],
)
def test_audit_report_refuses_what_it_cannot_use(trail, args, message):
    with pytest.raises(CommandError, match=message) as refused:
        report(*args)
    assert refused.value.returncode == 1


# --- a real worker --------------------------------------------------------------------------


@pytest.mark.e2e  # a real worker cluster
@pytest.mark.django_db(transaction=True)  # the flush after it empties the trail (TRUNCATE)
def test_a_real_workers_events_are_the_workers_for_the_launcher(
    demo, recipient, operator, operator_client, s3_endpoint, monkeypatch, tmp_path
):
    import time

    from django_q.conf import Conf

    from tests.support.cluster import start_cluster, stop

    monkeypatch.setattr(Conf, "SYNC", False)  # queued for real, as production does
    job = operator_client.post(
        "/api/v1/jobs", {**PULL, "dryrun": True}, format="json", REMOTE_ADDR=CLIENT
    ).json()
    log = tmp_path / "qcluster.log"
    cluster = start_cluster(s3_endpoint, log)
    try:
        deadline = time.monotonic() + 90
        while len(events_of(job["id"])) < 3 and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        stop(cluster)
    assert actions_of(job["id"]) == ["launched", "dry_run_started", "dry_run_ended"], (
        log.read_text()
    )
    launched, started, ended = events_of(job["id"])
    assert (launched.actor_kind, launched.client_address) == ("token", CLIENT)
    for event in (started, ended):
        assert (event.actor, event.actor_kind, event.client_address) == (operator, "worker", None)
        assert (event.recipient, event.purpose) == (recipient, PURPOSE)
    assert ended.details["status"] == "SUCCEEDED"
