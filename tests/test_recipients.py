"""Recipients and purposes of shares, and the destination folders: through the real API, the
console and the resolver. A request with only the seed's fields keeps its configuration."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django_q.models import OrmQ

from jobs.models import Job, JobObject
from recipients.models import Recipient
from shares.models import fingerprint_of

pytestmark = pytest.mark.django_db

SEED_ONLY = {"libraryIdList": ["L2400001"], "dataTypeList": ["Fastq"], "shareType": "pull"}
PUSH = {
    "projectIdList": ["CUP"],
    "dataTypeList": ["Fastq"],
    "shareType": "push",
    "shareDestination": "s3://collaborator-bucket/cup/run-1/",
}


def refused(response, field: str, *fragments: str) -> None:
    assert response.status_code == 400, response.content
    message = " ".join(response.json()[field])
    for fragment in fragments:
        assert fragment in message, message
    assert not Job.objects.exists()
    assert not OrmQ.objects.exists()


def test_a_seed_only_request_keeps_its_configuration_and_fingerprint(launch, demo, operator_client):
    body = launch(**SEED_ONLY, dryrun=True).json()
    seed_config = {
        **SEED_ONLY,
        "subjectIdList": [],
        "individualIdList": [],
        "projectIdList": [],
        "instrumentRunIdList": [],
        "defrostArchivedFastqs": False,
        "secondaryAnalysisWorkflowList": [],
        "portalRunIdList": [],
        "portalRunIdExclusionList": [],
        "shareDestination": "",
    }
    assert body["request"] == seed_config
    assert body["fingerprint"] == fingerprint_of(seed_config)
    paths = JobObject.objects.filter(job_id=body["id"]).values_list("relative_path", flat=True)
    assert all(path.startswith("fastq/") for path in paths)


def test_a_share_names_its_recipient_and_purpose(launch, demo, recipient):
    body = launch(**SEED_ONLY, recipientId="garvan-ccg", purpose="DAA-0042", dryrun=True).json()
    assert body["request"]["recipientId"] == "garvan-ccg"
    assert body["request"]["purpose"] == "DAA-0042"
    assert Job.objects.get(pk=body["id"]).recipient == recipient


def test_recipient_and_purpose_are_part_of_the_fingerprint(launch, demo, recipient):
    plain = launch(**SEED_ONLY, dryrun=True).json()["fingerprint"]
    named = launch(**SEED_ONLY, recipientId="garvan-ccg", dryrun=True).json()["fingerprint"]
    why = launch(**SEED_ONLY, recipientId="garvan-ccg", purpose="HREC 1", dryrun=True).json()
    assert len({plain, named, why["fingerprint"]}) == 3


def test_an_unknown_recipient_is_refused(launch, demo):
    refused(launch(**SEED_ONLY, recipientId="nobody"), "recipientId", "Unknown", "nobody")


def test_an_inactive_recipient_is_refused(launch, demo, recipient):
    Recipient.objects.filter(pk=recipient.pk).update(active=False)
    refused(launch(**SEED_ONLY, recipientId="garvan-ccg"), "recipientId", "Inactive")


def test_a_push_outside_the_recipients_destinations_names_the_allowed_ones(launch, demo, recipient):
    outside = {**PUSH, "shareDestination": "s3://collaborator-bucket/other/"}
    refused(
        launch(**outside, recipientId="garvan-ccg", dryrun=True),
        "shareDestination",
        "only under: s3://collaborator-bucket/cup/",
    )


def test_a_bucket_sharing_the_allowed_prefix_s_name_is_outside_it(launch, demo, recipient):
    lookalike = {**PUSH, "shareDestination": "s3://collaborator-bucket/cup-other/"}
    refused(launch(**lookalike, recipientId="garvan-ccg", dryrun=True), "shareDestination")


def test_a_push_under_an_allowed_destination_is_accepted(launch, demo, recipient):
    response = launch(**PUSH, recipientId="garvan-ccg", dryrun=True)
    assert response.status_code == 202, response.content


def test_a_recipient_with_no_allowed_destinations_receives_no_push(launch, demo, recipient):
    Recipient.objects.filter(pk=recipient.pk).update(allowed_destinations=[])
    refused(
        launch(**PUSH, recipientId="garvan-ccg", dryrun=True),
        "shareDestination",
        "none (no push to them)",
    )


def test_only_new_since_last_share_needs_a_recipient(launch, demo):
    refused(launch(**SEED_ONLY, onlyNewSinceLastShare=True), "onlyNewSinceLastShare", "recipientId")


def test_the_setting_makes_recipient_and_purpose_required(launch, demo, settings):
    settings.SHARE_REQUIRES_RECIPIENT = True
    response = launch(**SEED_ONLY, dryrun=True)
    refused(response, "recipientId", "SHARE_REQUIRES_RECIPIENT")
    assert "purpose" in response.json()


def test_path_prefixes_set_the_folders_at_the_destination(launch, demo, operator_client):
    body = launch(
        **{**SEED_ONLY, "dataTypeList": ["Fastq", "SecondaryAnalysis"]},
        primaryDataPathPrefix="/raw/fastq/",
        secondaryAnalysisPathPrefix="results",
        dryrun=True,
    ).json()
    assert body["request"]["primaryDataPathPrefix"] == "raw/fastq"
    paths = set(JobObject.objects.filter(job_id=body["id"]).values_list("kind", "relative_path"))
    assert paths
    for kind, path in paths:
        assert path.startswith("raw/fastq/" if kind == "fastq" else "results/"), path


def test_a_default_path_prefix_given_explicitly_keeps_the_seed_fingerprint(launch, demo):
    plain = launch(**SEED_ONLY, dryrun=True).json()["fingerprint"]
    given = launch(**SEED_ONLY, primaryDataPathPrefix="fastq", dryrun=True).json()
    moved = launch(**SEED_ONLY, primaryDataPathPrefix="reads", dryrun=True).json()
    assert given["fingerprint"] == plain != moved["fingerprint"]


@pytest.mark.parametrize("prefix", ["../up", "a/../b", "a//b", "/", "a\\b", "tab\there"])
def test_an_unsafe_path_prefix_is_refused(launch, demo, prefix):
    refused(launch(**SEED_ONLY, primaryDataPathPrefix=prefix), "primaryDataPathPrefix")


def test_recipients_are_listed_read_only_by_the_api(viewer_client, operator_client, recipient):
    listed = viewer_client.get("/api/v1/recipients").json()["results"]
    assert [r["recipientId"] for r in listed] == ["garvan-ccg"]
    assert listed[0]["allowedDestinations"] == ["s3://collaborator-bucket/cup/"]
    one = viewer_client.get("/api/v1/recipients/garvan-ccg").json()
    assert one["contactEmails"] == ["ccg-data@example.org"]
    assert operator_client.post("/api/v1/recipients", {"name": "x"}).status_code == 405


def test_recipients_need_a_viewer_s_permission(db, recipient):
    from django.contrib.auth.models import User
    from rest_framework.test import APIClient

    stranger = APIClient()
    stranger.force_authenticate(User.objects.create_user("stranger"))
    assert stranger.get("/api/v1/recipients").status_code == 403
    assert APIClient().get("/api/v1/recipients").status_code == 401


def test_operators_add_a_recipient_in_the_console(client, operator):
    client.force_login(operator)
    response = client.post(
        "/admin/recipients/recipient/add/",
        {
            "recipient_id": "peter-mac",
            "name": "Peter MacCallum",
            "contact_emails": "a@example.org\n\nb@example.org\n",
            "allowed_destinations": "s3://pmcc-inbox/dsm\nicav2://pmcc-project",
            "active": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    added = Recipient.objects.get(recipient_id="peter-mac")
    assert added.contact_emails == ["a@example.org", "b@example.org"]
    assert added.allowed_destinations == ["s3://pmcc-inbox/dsm/", "icav2://pmcc-project/"]
    assert added.may_receive_at("icav2://pmcc-project/any/folder/")


def test_the_console_refuses_a_bad_email_or_destination(client, operator):
    client.force_login(operator)
    response = client.post(
        "/admin/recipients/recipient/add/",
        {
            "recipient_id": "bad",
            "name": "Bad",
            "contact_emails": "not-an-address",
            "allowed_destinations": "ftp://somewhere/",
        },
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "is not an email address" in page
    assert "not a destination this service can push to" in page
    assert not Recipient.objects.exists()


def test_the_share_form_offers_active_recipients(client, operator, recipient):
    Recipient.objects.create(recipient_id="gone", name="Gone", active=False)
    client.force_login(operator)
    page = client.get("/admin/jobs/job/add/").content.decode()
    assert 'value="garvan-ccg"' in page
    assert 'value="gone"' not in page
    assert "For whom, and why" in page
    assert "May be left out" in page


def _share(*args: str) -> str:
    out = io.StringIO()
    call_command("share", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_the_command_line_names_a_recipient_purpose_and_folders(operator, demo, recipient):
    body = json.loads(
        _share(
            *("--user", operator.username, "--library-id", "L2400001", "--data-type", "Fastq"),
            *("--share-type", "pull", "--recipient-id", "garvan-ccg", "--purpose", "DAA-0042"),
            *("--primary-data-path-prefix", "reads", "--dryrun", "--json"),
        )
    )
    assert body["request"]["recipientId"] == "garvan-ccg"
    assert body["request"]["purpose"] == "DAA-0042"
    assert body["request"]["primaryDataPathPrefix"] == "reads"


def test_the_command_line_refuses_a_push_outside_the_recipients_destinations(
    operator, demo, recipient
):
    with pytest.raises(CommandError) as error:
        _share(
            *("--user", operator.username, "--project-id", "CUP", "--data-type", "Fastq"),
            *("--share-type", "push", "--share-destination", "s3://elsewhere/x/"),
            *("--recipient-id", "garvan-ccg", "--dryrun"),
        )
    assert "--share-destination: garvan-ccg may receive pushes only under" in str(error.value)
    assert not Job.objects.exists()


def test_jobs_are_listed_by_recipient(launch, demo, recipient, operator_client):
    named = launch(**SEED_ONLY, recipientId="garvan-ccg", dryrun=True).json()
    launch(**SEED_ONLY, dryrun=True)
    listed = operator_client.get("/api/v1/jobs?recipientId=garvan-ccg").json()["results"]
    assert [job["id"] for job in listed] == [named["id"]]


def test_the_command_line_s_summary_says_who_and_why(operator, demo, recipient):
    out = _share(
        *("--user", operator.username, "--library-id", "L2400001", "--data-type", "Fastq"),
        *("--share-type", "pull", "--recipient-id", "garvan-ccg", "--purpose", "HREC 2024/123"),
        "--dryrun",
    )
    lines = {line.split(":", 1)[0]: line.split(":", 1)[1].strip() for line in out.splitlines()}
    assert lines["Recipient"] == "garvan-ccg"
    assert lines["Purpose"] == "HREC 2024/123"
