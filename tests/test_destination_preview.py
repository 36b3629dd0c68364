"""A push's dry run previews its destination: whether it takes writes (leaving nothing there),
which objects are already there identical (a push skips them) and which are there with
other content (a push overwrites them); in the API, the console's page and `share`."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from catalogue.models import WorkflowRun
from jobs.models import JobObject
from sharing_project.s3.client import client
from sharing_project.s3.objects import ensure_bucket, get_object_bytes, list_objects, put_object

pytestmark = pytest.mark.django_db

DESTINATION = "s3://collaborator-bucket/preview/"


@pytest.fixture
def payload(fresh_demo) -> dict:
    ensure_bucket("collaborator-bucket")
    run = WorkflowRun.objects.filter(workflow_name="umccrise").order_by("portal_run_id").first()
    return {
        "portalRunIdList": [run.portal_run_id],
        "dataTypeList": ["SecondaryAnalysis"],
        "shareType": "push",
        "shareDestination": DESTINATION,
    }


def dry_run(launch, operator_client, payload) -> dict:
    job = operator_client.get(launch(**payload, dryrun=True).json()["url"]).json()
    assert job["status"] == "SUCCEEDED", job["error"]
    return job


def test_a_dry_run_to_an_empty_destination_finds_it_writable_and_leaves_nothing(
    launch, operator_client, payload
):
    job = dry_run(launch, operator_client, payload)
    assert job["destinationPreview"] == {
        "writable": True,
        "note": "",
        "identical": 0,
        "different": 0,
    }
    assert list(list_objects(DESTINATION)) == []
    uploads = client().list_multipart_uploads(Bucket="collaborator-bucket")
    assert uploads.get("Uploads", []) == []  # the write check's upload was aborted


def test_a_dry_run_after_a_push_tells_identical_from_overwritten_objects(
    launch, operator_client, payload
):
    dry_run(launch, operator_client, payload)
    pushed = operator_client.get(launch(**payload).json()["url"]).json()
    assert pushed["status"] == "SUCCEEDED", pushed["error"]
    changed = JobObject.objects.filter(job_id=pushed["id"]).order_by("position").first()
    original = get_object_bytes(changed.destination_uri)
    put_object(changed.destination_uri, bytes([original[0] ^ 1]) + original[1:])

    again = dry_run(launch, operator_client, payload)
    total = again["progress"]["objectsTotal"]
    assert again["destinationPreview"]["identical"] == total - 1
    assert again["destinationPreview"]["different"] == 1
    listed = operator_client.get(f"{again['url']}/objects?atDestination=different").json()
    assert [o["relativePath"] for o in listed["results"]] == [changed.relative_path]
    assert any("would be overwritten" in warning for warning in again["warnings"])


def test_keys_the_share_does_not_have_around_and_between_its_objects_change_nothing(
    launch, operator_client, payload
):
    """The destination's listing is walked beside the objects (neither is held whole): keys
    sorting before, between and after them must not throw the walk off."""
    dry_run(launch, operator_client, payload)
    pushed = operator_client.get(launch(**payload).json()["url"]).json()
    assert pushed["status"] == "SUCCEEDED", pushed["error"]
    objects = list(JobObject.objects.filter(job_id=pushed["id"]).order_by("position"))
    for uri in (DESTINATION + " first", DESTINATION + "~last"):
        put_object(uri, b"not shared")
    for item in objects:
        put_object(item.destination_uri + "-beside", b"not shared")
        put_object(item.destination_uri[:-1], b"not shared")  # sorts just before it
    last = objects[-1]
    put_object(last.destination_uri, get_object_bytes(last.destination_uri) + b"changed")

    again = dry_run(launch, operator_client, payload)
    assert again["destinationPreview"]["identical"] == len(objects) - 1
    assert again["destinationPreview"]["different"] == 1
    listed = operator_client.get(f"{again['url']}/objects?atDestination=different").json()
    assert [o["relativePath"] for o in listed["results"]] == [last.relative_path]
    repushed = operator_client.get(launch(**payload).json()["url"]).json()
    assert repushed["status"] == "SUCCEEDED", repushed["error"]
    statuses = JobObject.objects.filter(job_id=repushed["id"]).values_list("status", flat=True)
    assert sorted(statuses) == ["COPIED"] + ["SKIPPED"] * (len(objects) - 1)


def test_a_destination_that_cannot_be_written_is_reported_by_the_dry_run(
    launch, operator_client, payload
):
    payload["shareDestination"] = "s3://no-such-destination-bucket/in/"
    job = dry_run(launch, operator_client, payload)
    preview = job["destinationPreview"]
    assert preview["writable"] is False
    assert "s3://no-such-destination-bucket/in/" in preview["note"]
    assert "the bucket does not exist" in preview["note"]
    assert any("A push would fail" in warning for warning in job["warnings"])


def test_a_pull_dry_run_has_no_destination_preview(launch, operator_client, payload):
    del payload["shareDestination"]
    job = dry_run(launch, operator_client, payload | {"shareType": "pull"})
    assert job["destinationPreview"] is None


@pytest.mark.usefixtures("transactional_db")  # the job is queued (and run) as it commits
def test_share_dryrun_wait_prints_the_preview(payload, operator):
    options = ["--portal-run-id", payload["portalRunIdList"][0], "--data-type", "SecondaryAnalysis"]
    options += ["--share-type", "push", "--share-destination", DESTINATION, "--dryrun"]
    out = io.StringIO()
    call_command(
        "share", "--user", operator.username, *options, "--wait", "--interval", "0.1", stdout=out
    )
    lines = out.getvalue().splitlines()
    (preview,) = [line for line in lines if line.startswith("At destination:")]
    assert "writable; 0 object(s) already there identical (skipped), 0 with other" in preview
    (verified,) = [line for line in lines if line.startswith("Verified:")]
    assert "by MD5 ETag" in verified
