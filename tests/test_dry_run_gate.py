"""The dry-run gate: a push is refused until the same configuration has a young, successful
dry run; dry runs freeze their manifest."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jobs.models import Job, JobObject
from jobs.push import take_manifest
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
    """The push's first task copies the dry run's objects inside the database (INSERT ...
    SELECT); the launch only saves the job, with the dry run's totals."""
    launch(**PUSH, dryrun=True)
    dry = Job.objects.get()
    dry.job_objects.filter(position=0).update(at_destination="different")
    # Posted without running what is queued on commit: the push is saved, not run.
    body = operator_client.post("/api/v1/jobs", PUSH, format="json").json()
    push = Job.objects.get(pk=body["id"])
    assert push.status == "PENDING"
    assert not push.job_objects.exists()
    assert (push.objects_total, push.bytes_total) == (dry.objects_total, dry.bytes_total)
    assert body["progress"]["objectsTotal"] == dry.objects_total

    assert take_manifest(push)
    assert not take_manifest(push)  # a job that has its objects keeps them
    fields = ["position", "relative_path", "source_uri", "destination_uri", "size", "etag", "md5"]
    fields += ["checksum_source", "library_id", "lane", "portal_run_id", "workflow_name"]
    listed = list(dry.job_objects.order_by("position").values_list(*fields))
    sent = push.job_objects.order_by("position")
    assert list(sent.values_list(*fields)) == listed
    assert set(sent.values_list("status", "error", "verified_by", "at_destination")) == {
        ("PENDING", "", "", "")
    }
    push.refresh_from_db()
    assert (push.objects_total, push.bytes_total) == (dry.objects_total, dry.bytes_total)
    assert dry.job_objects.filter(at_destination="different").count() == 1  # left as it was


def _grow(dry: Job, extra: int) -> None:
    """`extra` more objects in a dry run's manifest, written straight to the database."""
    start = dry.job_objects.count()
    JobObject.objects.bulk_create(
        (
            JobObject(
                job=dry,
                position=start + n,
                kind=JobObject.Kind.SECONDARY,
                source_uri=f"s3://source-bucket/bulk/{n:05d}.txt",
                relative_path=f"bulk/{n:05d}.txt",
                destination_uri=f"s3://collaborator-bucket/bpop/bulk/{n:05d}.txt",
                size=10,
                status=JobObject.Status.LISTED,
            )
            for n in range(extra)
        ),
        batch_size=1000,
    )
    DryRun.objects.filter(job=dry).update(
        object_count=start + extra, total_bytes=dry.bytes_total + 10 * extra
    )


def _launch_queries(operator_client) -> tuple[str, list[str]]:
    with CaptureQueriesContext(connection) as queries:
        body = operator_client.post("/api/v1/jobs", PUSH, format="json").json()
    return body["id"], [query["sql"] for query in queries]


def test_launching_a_push_costs_the_same_whatever_the_dry_runs_size(
    launch, demo, operator_client, django_assert_max_num_queries
):
    """A launch used to copy the dry run's objects inside the request (one INSERT ... SELECT
    of every row): the request grew with the share."""
    launch(**PUSH, dryrun=True)
    dry = Job.objects.get()
    before = dry.objects_total
    _small, small = _launch_queries(operator_client)
    _grow(dry, 5000)
    with django_assert_max_num_queries(len(small)):
        push_id, big = _launch_queries(operator_client)
    push = Job.objects.get(pk=push_id)
    assert len(big) == len(small)
    assert not [sql for sql in small + big if 'INSERT INTO "jobs_jobobject"' in sql]
    assert not push.job_objects.exists()
    assert push.objects_total == DryRun.objects.get().object_count == 5000 + before
    assert any(
        f"Sends the {push.objects_total} object(s) of dry run {dry.pk}." == line.message
        for line in push.log_lines.all()
    )
    # The worker's first step copies them, in the database.
    assert take_manifest(push)
    assert push.job_objects.filter(status="PENDING").count() == push.objects_total
