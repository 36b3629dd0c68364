"""The dry-run gate: a push is refused until the same configuration has a young, successful
dry run; dry runs freeze their manifest."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.models import Job
from shares.models import DryRun, ShareRequest

pytestmark = pytest.mark.django_db

PUSH = {
    "projectIdList": ["BPOP"],
    "dataTypeList": ["Fastq", "SecondaryAnalysis"],
    "shareType": "push",
    "shareDestination": "s3://collaborator-bucket/bpop/",
}


def test_push_without_dry_run_is_refused_with_what_to_run(launch, demo):
    response = launch(**PUSH)
    assert response.status_code == 409
    body = response.json()
    assert '"dryrun": true' in body["detail"]
    assert len(body["fingerprint"]) == 64
    assert not Job.objects.exists()


def test_a_refused_push_writes_nothing(launch, demo):
    """A refused launch used to leave its ShareRequest behind."""
    assert launch(**PUSH).status_code == 409
    assert not ShareRequest.objects.exists()
    dry = launch(**PUSH, dryrun=True).json()
    assert dry["fingerprint"] == launch(**PUSH).json()["fingerprint"]


def test_push_passes_the_gate_after_a_dry_run_of_the_same_configuration(launch, demo):
    dry = launch(**PUSH, dryrun=True)
    assert dry.status_code == 202
    assert Job.objects.get().status == "SUCCEEDED"
    response = launch(**PUSH)
    assert response.status_code == 202, response.content
    push = Job.objects.get(pk=response.json()["id"])
    assert push.source_dry_run == DryRun.objects.get()


def test_the_same_configuration_in_another_spelling_shares_the_dry_run(launch, demo):
    assert launch(**PUSH, dryrun=True).status_code == 202
    respelled = PUSH | {
        "dataTypeList": ["secondaryanalysis", "fastq", "Fastq"],
        "projectIdList": ["BPOP", "BPOP"],
        "shareDestination": "s3://collaborator-bucket//bpop",
    }
    assert launch(**respelled).status_code == 202
    assert ShareRequest.objects.count() == 1


@pytest.mark.parametrize(
    "change",
    [
        {"shareDestination": "s3://collaborator-bucket/other/"},
        {"dataTypeList": ["Fastq"]},
        {"projectIdList": ["CUP"]},
        {"defrostArchivedFastqs": True},
        {"secondaryAnalysisWorkflowList": ["umccrise"]},
    ],
)
def test_a_changed_field_needs_its_own_dry_run(launch, demo, change):
    assert launch(**PUSH, dryrun=True).status_code == 202
    dry_run_fingerprint = ShareRequest.objects.get().fingerprint
    response = launch(**(PUSH | change))
    assert response.status_code == 409
    assert response.json()["fingerprint"] != dry_run_fingerprint
    assert ShareRequest.objects.count() == 1


def test_an_expired_dry_run_no_longer_counts(launch, demo, settings):
    assert launch(**PUSH, dryrun=True).status_code == 202
    DryRun.objects.update(
        created_at=timezone.now() - timedelta(seconds=settings.DRYRUN_MAX_AGE_SECONDS + 1)
    )
    assert launch(**PUSH).status_code == 409


def test_a_failed_dry_run_does_not_count(launch, demo):
    assert launch(**PUSH, dryrun=True).status_code == 202
    Job.objects.update(status="FAILED")
    assert launch(**PUSH).status_code == 409


def test_a_pull_needs_no_dry_run(launch, demo):
    pull = {"projectIdList": ["CUP"], "dataTypeList": ["Fastq"], "shareType": "pull"}
    response = launch(**pull)
    assert response.status_code == 202
    assert Job.objects.get().status == "SUCCEEDED"


def test_dry_run_freezes_its_manifest(launch, demo, operator_client):
    body = launch(**PUSH, dryrun=True).json()
    dry_run = DryRun.objects.get()
    job = Job.objects.get()
    assert dry_run.job == job
    assert dry_run.object_count == job.job_objects.count() == job.objects_total > 0
    assert dry_run.total_bytes == sum(job.job_objects.values_list("size", flat=True))
    objects = operator_client.get(f"{body['url']}/objects?pageSize=1000").json()["results"]
    assert {o["status"] for o in objects} == {"LISTED"}
    assert all(
        o["destinationUri"] == f"s3://collaborator-bucket/bpop/{o['relativePath']}" for o in objects
    )


def test_a_push_is_given_exactly_its_dry_runs_objects_in_a_fresh_state(
    launch, demo, operator_client
):
    """The launch copies the dry run's objects inside the database (INSERT ... SELECT)."""
    launch(**PUSH, dryrun=True)
    dry = Job.objects.get()
    dry.job_objects.filter(position=0).update(at_destination="different")
    # Posted without running what is queued on commit: the push is saved, not run.
    body = operator_client.post("/api/v1/jobs", PUSH, format="json").json()
    push = Job.objects.get(pk=body["id"])
    assert push.status == "PENDING"
    fields = ["position", "relative_path", "source_uri", "destination_uri", "size", "etag", "md5"]
    fields += ["checksum_source", "library_id", "lane", "portal_run_id", "workflow_name"]
    listed = list(dry.job_objects.order_by("position").values_list(*fields))
    sent = push.job_objects.order_by("position")
    assert list(sent.values_list(*fields)) == listed
    assert set(sent.values_list("status", "error", "verified_by", "at_destination")) == {
        ("PENDING", "", "", "")
    }
    assert (push.objects_total, push.bytes_total) == (dry.objects_total, dry.bytes_total)
    assert dry.job_objects.filter(at_destination="different").count() == 1  # left as it was
