"""Push jobs to an S3 destination: byte-identical copies, idempotent re-runs, multipart,
archived data, abort, and an unwritable destination."""

from __future__ import annotations

import os
import subprocess
import time

import boto3
import pytest
from botocore.config import Config
from django_q.signals import pre_execute

from catalogue.demo import ARCHIVED_LIBRARY
from catalogue.models import WorkflowRun
from jobs import push as push_steps
from jobs.models import JobLogLine, JobObject
from sharing_project.s3.client import client
from sharing_project.s3.objects import (
    ensure_bucket,
    get_object_bytes,
    head_object,
    list_objects,
    put_object,
)
from sharing_project.s3.uris import parse_s3_uri
from tests.support.fault_proxy import FaultProxy

pytestmark = pytest.mark.django_db

DESTINATION = "s3://collaborator-bucket/cup/"
CUP = {
    "projectIdList": ["CUP"],
    "dataTypeList": ["Fastq", "SecondaryAnalysis"],
    "shareType": "push",
    "shareDestination": DESTINATION,
}


@pytest.fixture
def push(launch, operator_client):
    """Dry-run then push a configuration through the API; returns the push job's body."""

    def run(**payload) -> dict:
        ensure_bucket("collaborator-bucket")  # after the demo fixture set S3 up
        dry = launch(**payload, dryrun=True)
        assert dry.status_code == 202, dry.content
        assert operator_client.get(dry.json()["url"]).json()["status"] == "SUCCEEDED"
        response = launch(**payload)
        assert response.status_code == 202, response.content
        return operator_client.get(response.json()["url"]).json()

    return run


def landed(job: dict) -> dict[str, tuple[bytes, bytes]]:
    """relative path -> (source bytes, destination bytes) for every object of the job."""
    return {
        o.relative_path: (
            get_object_bytes(o.source_uri),
            get_object_bytes(o.destination_uri),
        )
        for o in JobObject.objects.filter(job_id=job["id"])
    }


@pytest.mark.e2e  # curl
def test_push_of_a_demo_project_lands_every_object_byte_identical(push, demo, operator_client):
    job = push(**CUP)
    assert job["status"] == "SUCCEEDED", job["error"]
    copies = landed(job)
    assert len(copies) == job["progress"]["objectsTotal"] > 50
    assert all(source == copy for source, copy in copies.values())
    assert job["progress"]["objectsDone"] == job["progress"]["objectsTotal"]
    assert job["progress"]["bytesDone"] == job["progress"]["bytesTotal"]
    objects = operator_client.get(f"{job['url']}/objects?pageSize=1000").json()["results"]
    assert {o["status"] for o in objects} == {"COPIED"}
    assert all(o["destinationUri"] == DESTINATION + o["relativePath"] for o in objects)
    fastqs = operator_client.get(f"{job['url']}/fastqs").json()
    runs = operator_client.get(f"{job['url']}/portal-run-ids").json()
    assert fastqs["count"] > 0
    assert runs["count"] > 0
    lims = get_object_bytes(DESTINATION + "lims.csv").decode()
    assert lims.startswith("libraryId,sampleId")
    assert job["outputs"]["limsCsv"]["s3Uri"] == DESTINATION + "lims.csv"
    assert "dataDownloadScript" not in job["outputs"]
    fetched = subprocess.run(
        ["curl", "-fsS", job["outputs"]["limsCsv"]["url"]], capture_output=True, check=True
    )
    assert fetched.stdout.decode() == lims
    assert not list(list_objects(f"{DESTINATION}.dsm-write-check"))  # marker removed


@pytest.mark.e2e  # copies objects through S3: seconds
def test_pushing_again_copies_nothing_and_reports_everything_skipped(push, demo):
    first = push(**CUP)
    assert first["status"] == "SUCCEEDED"
    second = push(**CUP)
    assert second["status"] == "SUCCEEDED", second["error"]
    statuses = set(JobObject.objects.filter(job_id=second["id"]).values_list("status", flat=True))
    assert statuses == {"SKIPPED"}
    assert second["progress"]["objectsDone"] == second["progress"]["objectsTotal"]
    assert any(
        "already at the destination, identical: skipped" in line["message"]
        for line in second["log"]
    )


@pytest.mark.e2e  # copies objects through S3: seconds
@pytest.mark.django_db(transaction=True)  # the lease is renewed on a connection of its own
def test_a_worker_verifying_for_longer_than_a_lease_keeps_its_job(
    push, demo, settings, monkeypatch
):
    """Verification walks the destination's listing: minutes at 300,000 objects. The finishing
    worker holds the lease meanwhile, so the sweeper does not take it for a dead worker and
    finish the job a second time beside it."""
    settings.JOB_LEASE_SECONDS = 2
    verify, resumed = push_steps.verify, []

    def slow_verify(job, target) -> None:
        if not resumed:  # once: a job resumed by this sweep is finished (verified) inside it
            resumed.append(None)
            time.sleep(2 * settings.JOB_LEASE_SECONDS)
            resumed[0] = push_steps.sweep()
        verify(job, target)

    monkeypatch.setattr(push_steps, "verify", slow_verify)
    job = push(**CUP)
    assert resumed == [0]
    assert job["status"] == "SUCCEEDED"
    assert not JobLogLine.objects.filter(job_id=job["id"], message__contains="resuming").exists()


def test_a_large_object_is_copied_in_parts(push, fresh_demo, settings):
    settings.PUSH_MULTIPART_THRESHOLD = 5 * 1024 * 1024
    settings.PUSH_PART_SIZE = 5 * 1024 * 1024
    run = WorkflowRun.objects.filter(workflow_name="rnasum").first()
    big = os.urandom(12 * 1024 * 1024 + 123)
    put_object(run.output_uri + "big/reads.bam", big)
    job = push(
        portalRunIdList=[run.portal_run_id],
        dataTypeList=["SecondaryAnalysis"],
        shareType="push",
        shareDestination=DESTINATION,
    )
    assert job["status"] == "SUCCEEDED", job["error"]
    copied = JobObject.objects.get(job_id=job["id"], relative_path__endswith="big/reads.bam")
    assert get_object_bytes(copied.destination_uri) == big
    assert head_object(copied.destination_uri).etag.endswith("-3")  # three parts


@pytest.mark.e2e  # copies objects through S3: seconds
def test_an_object_copied_in_parts_is_skipped_by_the_next_push(push, fresh_demo, settings):
    """A copy in parts has its own ETag, so a re-run used to copy it again."""
    settings.PUSH_MULTIPART_THRESHOLD = 5 * 1024 * 1024
    settings.PUSH_PART_SIZE = 5 * 1024 * 1024
    run = WorkflowRun.objects.filter(workflow_name="rnasum").first()
    put_object(run.output_uri + "big/reads.bam", os.urandom(11 * 1024 * 1024))
    payload = {
        "portalRunIdList": [run.portal_run_id],
        "dataTypeList": ["SecondaryAnalysis"],
        "shareType": "push",
        "shareDestination": DESTINATION,
    }
    first = push(**payload)
    assert first["status"] == "SUCCEEDED", first["error"]
    again = push(**payload)
    assert again["status"] == "SUCCEEDED", again["error"]
    statuses = dict(
        JobObject.objects.filter(job_id=again["id"]).values_list("relative_path", "status")
    )
    assert set(statuses.values()) == {"SKIPPED"}
    # Replaced by someone else since: same size, another ETag, so it is copied again.
    big = JobObject.objects.get(job_id=again["id"], relative_path__endswith="big/reads.bam")
    put_object(big.destination_uri, os.urandom(11 * 1024 * 1024))
    third = push(**payload)
    copied = JobObject.objects.get(job_id=third["id"], relative_path=big.relative_path)
    assert copied.status == "COPIED"
    assert get_object_bytes(copied.destination_uri) == get_object_bytes(copied.source_uri)


@pytest.mark.e2e  # copies objects through S3: seconds
def test_archived_objects_fail_the_push_before_any_copy(push, fresh_demo):
    payload = {
        "libraryIdList": [ARCHIVED_LIBRARY],
        "dataTypeList": ["Fastq"],
        "shareType": "push",
        "shareDestination": DESTINATION,
    }
    job = push(**payload)
    assert job["status"] == "FAILED"
    assert job["error"]["type"] == "ArchivedDataError"
    assert list(list_objects(DESTINATION)) == []
    defrost = push(**payload, defrostArchivedFastqs=True)
    assert defrost["error"]["type"] == "DataDefrostingError"
    assert {o["restore"] for o in defrost["error"]["details"]["objects"]} == {"restore requested"}
    # Restored (at once, on the embedded server): the same push now copies them.
    again = push(**payload, defrostArchivedFastqs=True)
    assert again["status"] == "SUCCEEDED", again["error"]
    assert all(source == copy for source, copy in landed(again).values())


@pytest.mark.e2e  # copies objects through S3: seconds
def test_destination_storage_class_is_applied(push, demo, settings):
    """(The bucket-owner-full-control ACL is sent too; one-account moto cannot show its effect.)"""
    settings.PUSH_STORAGE_CLASS = "STANDARD_IA"
    settings.PUSH_BUCKET_OWNER_FULL_CONTROL = True
    run = WorkflowRun.objects.filter(workflow_name="wts").first()
    job = push(
        portalRunIdList=[run.portal_run_id],
        dataTypeList=["SecondaryAnalysis"],
        shareType="push",
        shareDestination="s3://collaborator-bucket/ia/",
    )
    assert job["status"] == "SUCCEEDED", job["error"]
    for item in JobObject.objects.filter(job_id=job["id"]):
        assert head_object(item.destination_uri).storage_class == "STANDARD_IA"


def test_a_destination_that_cannot_be_written_fails_at_once(launch, demo, operator_client):
    payload = CUP | {"shareDestination": "s3://no-such-destination-bucket/in/"}
    assert launch(**payload, dryrun=True).status_code == 202
    job = operator_client.get(launch(**payload).json()["url"]).json()
    assert job["status"] == "FAILED"
    assert job["error"]["type"] == "DestinationNotWritable"
    assert "s3://no-such-destination-bucket/in/" in job["error"]["message"]
    assert "the bucket does not exist" in job["error"]["message"]
    assert job["progress"]["objectsDone"] == 0


@pytest.fixture
def aborted_push(push, fresh_demo, settings, operator_client) -> dict:
    """A push split in batches of 10, which an operator aborts as the second batch starts."""
    settings.PUSH_BATCH_SIZE = 10
    seen = []

    def abort_on_second_batch(sender, task, **kwargs):
        if task["func"] == "jobs.tasks.push_batch":
            seen.append(task["args"])
            if len(seen) == 2:
                operator_client.post(f"/api/v1/jobs/{task['args'][0]}/abort")

    pre_execute.connect(abort_on_second_batch, dispatch_uid="abort-test")
    try:
        return push(**CUP)
    finally:
        pre_execute.disconnect(dispatch_uid="abort-test")


def test_abort_stops_new_copies_and_ends_with_accurate_counts(aborted_push):
    job = aborted_push
    assert job["status"] == "ABORTED"
    objects = JobObject.objects.filter(job_id=job["id"])
    copied = objects.filter(status="COPIED").count()
    assert copied == 10  # the first batch; nothing started after the abort
    assert objects.filter(status="CANCELLED").count() == objects.count() - 10
    assert job["progress"]["objectsDone"] == 10
    assert len(list(list_objects(DESTINATION))) == 10


def test_an_aborted_push_reports_only_what_reached_the_destination(aborted_push, operator_client):
    """Regression: /fastqs and /portal-run-ids counted every planned object as pushed."""
    job = aborted_push
    at_destination = {
        o.relative_path for o in JobObject.objects.filter(job_id=job["id"], status="COPIED")
    }
    fastqs = operator_client.get(f"{job['url']}/fastqs").json()["results"]
    runs = operator_client.get(f"{job['url']}/portal-run-ids").json()["results"]
    assert sum(row["sharedCount"] for row in fastqs + runs) == len(at_destination) == 10
    for row in fastqs + runs:
        assert 0 < row["sharedCount"] <= row["objectCount"]
        assert row["sharedBytes"] <= row["bytes"]
    assert {(r["instrumentRunId"], f"Lane_{r['lane']}", r["libraryId"]) for r in fastqs} == {
        tuple(path.split("/")[1:4]) for path in at_destination if path.startswith("fastq/")
    }
    planned = JobObject.objects.filter(job_id=job["id"], kind="fastq")
    planned_rows = planned.values("library_id", "instrument_run_id", "lane").distinct()
    assert len(fastqs) < planned_rows.count()  # the rows not pushed are not listed


@pytest.fixture
def icav2_project(fresh_demo, settings):
    """An ICAv2-compatible server whose folders live on the loopback S3 server, with the
    collaborator's project "cup-share"; the service's settings point at it."""
    from sharing_project import icav2
    from tests.support.icav2_server import Icav2Server

    server = Icav2Server(settings.AWS_ENDPOINT_URL, region=settings.AWS_REGION).start()
    settings.ICAV2_BASE_URL = server.base_url
    settings.ICAV2_API_KEY = server.api_key
    icav2.close_clients()
    project_id = server.add_project("cup-share")
    yield server, project_id
    icav2.close_clients()
    server.stop()


@pytest.mark.e2e  # the ICAv2 server and a push: seconds
def test_push_to_an_icav2_folder_streams_every_object_into_it(push, icav2_project):
    server, project_id = icav2_project
    payload = CUP | {"shareDestination": "icav2://cup-share/shared/cup/"}
    job = push(**payload)
    assert job["status"] == "SUCCEEDED", job["error"]
    assert "/shared/cup/" in server.folder_paths(project_id)
    folder = f"s3://icav2-project-data/{project_id}/shared/cup/"
    objects = JobObject.objects.filter(job_id=job["id"])
    assert objects.count() > 50
    for item in objects:
        assert item.destination_uri == "icav2://cup-share/shared/cup/" + item.relative_path
        assert item.status == "COPIED"
        # The digests of the bytes streamed against the source's own checksum, never the size.
        assert item.verified_by == ("SHA256" if item.sha256 else "MD5")
        assert get_object_bytes(folder + item.relative_path) == get_object_bytes(item.source_uri)
    assert get_object_bytes(folder + "lims.csv").startswith(b"libraryId,")
    assert job["outputs"]["limsCsv"]["s3Uri"] == "icav2://cup-share/shared/cup/lims.csv"
    again = push(**payload)
    assert set(JobObject.objects.filter(job_id=again["id"]).values_list("status", flat=True)) == {
        "SKIPPED"
    }


@pytest.mark.e2e  # the ICAv2 server and a push: seconds
def test_push_to_an_unknown_icav2_project_fails_naming_it(push, icav2_project):
    job = push(**(CUP | {"shareDestination": "icav2://no-such-project/shared/"}))
    assert job["status"] == "FAILED"
    assert job["error"]["type"] == "Icav2Error"
    assert "no-such-project" in job["error"]["message"]


def without_s3_checksum(uri: str) -> None:
    """Write the object again, same bytes, without a checksum: as objects written before S3
    kept one for every object (2025) are."""
    service = client()
    old_style = boto3.session.Session().client(
        "s3",
        endpoint_url=service.meta.endpoint_url,
        region_name=service.meta.region_name,
        config=service.meta.config.merge(Config(request_checksum_calculation="when_required")),
    )
    target = parse_s3_uri(uri)
    old_style.put_object(Bucket=target.bucket, Key=target.key, Body=get_object_bytes(uri))
    head = old_style.head_object(Bucket=target.bucket, Key=target.key, ChecksumMode="ENABLED")
    assert not [name for name in head if name.startswith("Checksum")]


@pytest.mark.e2e  # the ICAv2 server, a proxy and a push: seconds
@pytest.mark.parametrize(
    ("s3_checksum", "reads", "error"),
    [
        # The digests of the bytes streamed differ from the source's MD5: the copy is bad.
        (False, 1, "checksum mismatch: MD5 "),
        # botocore checks the GET's body against S3's CRC32 and stops the upload; the object
        # is tried again (OBJECT_ATTEMPTS), then fails.
        (True, 3, "checksum mismatch: FlexibleChecksumError: Expected checksum "),
    ],
    ids=["source-without-s3-checksum", "source-with-s3-crc32"],
)
def test_a_byte_flipped_on_its_way_through_the_worker_fails_only_that_icav2_copy(
    launch, operator_client, icav2_project, s3_endpoint, settings, s3_checksum, reads, error
):
    _server, project_id = icav2_project
    payload = CUP | {"shareDestination": "icav2://cup-share/shared/cup/"}
    dry = operator_client.get(launch(**payload, dryrun=True).json()["url"]).json()
    assert dry["status"] == "SUCCEEDED", dry["error"]
    victim = JobObject.objects.filter(job_id=dry["id"]).order_by("position").first()
    if not s3_checksum:
        without_s3_checksum(victim.source_uri)
    # Every S3 call of the push (the source's GETs, the folder's writes) goes through it.
    proxy = FaultProxy(s3_endpoint, flip_byte_of="/" + victim.source_uri.removeprefix("s3://"))
    with proxy:
        settings.AWS_ENDPOINT_URL = proxy.endpoint
        try:
            job = operator_client.get(launch(**payload).json()["url"]).json()
        finally:
            settings.AWS_ENDPOINT_URL = s3_endpoint
    assert proxy.corrupted == reads
    assert job["status"] == "FAILED"
    assert job["error"]["type"] == "CopyFailed"
    (failed,) = job["error"]["details"]["objects"]
    assert failed["relative_path"] == victim.relative_path
    assert failed["error"].startswith(error)
    others = JobObject.objects.filter(job_id=job["id"]).exclude(relative_path=victim.relative_path)
    assert others.count() > 50
    assert set(others.values_list("status", flat=True)) == {"COPIED"}
    folder = f"s3://icav2-project-data/{project_id}/shared/cup/"
    for item in others:
        assert get_object_bytes(folder + item.relative_path) == get_object_bytes(item.source_uri)
