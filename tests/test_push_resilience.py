"""A push survives a throttling, connection-dropping S3 and a worker killed mid-push."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.conf import settings
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import OrmQ, Schedule

from catalogue.models import Library, WorkflowRun
from jobs.models import Job, JobObject
from jobs.push import batches_waiting, sweep
from sharing_project.s3.objects import ensure_bucket, get_object_bytes, list_objects, put_object
from tests.support.cluster import start_cluster, stop
from tests.support.fault_proxy import FaultProxy

# A real worker cluster, killed and restarted; seconds of throttled, dropped connections.
pytestmark = pytest.mark.e2e


def push_payload(portal_run_id: str, destination: str) -> dict:
    return {
        "portalRunIdList": [portal_run_id],
        "dataTypeList": ["SecondaryAnalysis"],
        "shareType": "push",
        "shareDestination": destination,
    }


def assert_landed_once(job: Job, expected: int) -> None:
    objects = JobObject.objects.filter(job=job)
    assert objects.count() == expected
    assert set(objects.values_list("status", flat=True)) <= {"COPIED", "SKIPPED"}
    for item in objects:
        assert get_object_bytes(item.destination_uri) == get_object_bytes(item.source_uri)
    at_destination = [o.key for o in list_objects(job.destination)]
    assert len(at_destination) == expected + 2  # and lims.csv, checksums.md5
    job.refresh_from_db()
    assert job.objects_done == job.objects_total == expected
    assert job.bytes_done == job.bytes_total


@pytest.mark.django_db
def test_push_completes_through_throttling_and_dropped_connections(
    launch, demo, operator_client, s3_endpoint, settings
):
    ensure_bucket("collaborator-bucket")
    run = WorkflowRun.objects.filter(workflow_name="tumor-normal").first()
    payload = push_payload(run.portal_run_id, "s3://collaborator-bucket/faults/")
    payload |= {"projectIdList": ["CUP"], "portalRunIdList": []}
    payload["dataTypeList"] = ["Fastq", "SecondaryAnalysis"]
    assert launch(**payload, dryrun=True).status_code == 202
    proxy = FaultProxy(s3_endpoint, slowdown_every=3, reset_every=5, only_methods=("PUT",))
    proxy.start()
    try:
        settings.AWS_ENDPOINT_URL = proxy.endpoint  # every S3 call of the push goes through it
        body = launch(**payload).json()
    finally:
        proxy.stop()
    job = Job.objects.get(pk=body["id"])
    assert job.status == "SUCCEEDED", (job.error_type, job.error_message, job.error_details)
    assert proxy.slowdowns > 5
    assert proxy.resets > 5
    settings.AWS_ENDPOINT_URL = s3_endpoint
    assert_landed_once(job, job.objects_total)


def queued_batches(job: Job) -> int:
    """How many of the job's batches wait in django-q2's ORM queue for a worker."""
    waiting = OrmQ.objects.filter(lock__lte=timezone.now())
    return sum(str(row.name()).startswith(f"push-{job.pk}-") for row in waiting)


def many_outputs(count: int) -> WorkflowRun:
    """A workflow run with `count` small outputs, enough for a push to take a few seconds."""
    run = WorkflowRun.objects.create(
        portal_run_id="20240601abcdef00",
        workflow_name="sash",
        output_uri=f"s3://{settings.DEMO_BUCKET}/analysis/sash/20240601abcdef00/",
    )
    run.libraries.add(Library.objects.get(library_id="L2400001"))
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(
            pool.map(
                lambda n: put_object(f"{run.output_uri}part-{n:04d}.txt", os.urandom(1024)),
                range(count),
            )
        )
    return run


@pytest.mark.django_db(transaction=True)
def test_a_push_whose_worker_is_killed_is_resumed_by_the_sweeper(
    launch, demo, operator_client, s3_endpoint, monkeypatch, tmp_path, settings
):
    """A real qcluster copies part of a push and is killed with SIGKILL. While the batches it
    queued wait for a worker, the sweeper leaves the job alone; a second worker copies them;
    once the lease has run out again the sweeper resumes what the dead worker held, and the
    job ends with every object there exactly once."""
    ensure_bucket("collaborator-bucket")
    total = 600
    run = many_outputs(total)
    payload = push_payload(run.portal_run_id, "s3://collaborator-bucket/resumed/")
    assert launch(**payload, dryrun=True).status_code == 202
    counter = FaultProxy(s3_endpoint).start()  # no faults: it counts the requests
    try:
        monkeypatch.setattr(Conf, "SYNC", False)
        response = operator_client.post("/api/v1/jobs", payload, format="json")
        assert response.status_code == 202
        job = Job.objects.get(pk=response.json()["id"])
        cluster = start_cluster(
            counter.endpoint,
            tmp_path / "qcluster.log",
            PUSH_BATCH_SIZE="150",
            PUSH_THREADS="2",
            JOB_LEASE_SECONDS="3",
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            job.refresh_from_db()
            if job.objects_done >= 100:
                break
            time.sleep(0.05)
        os.killpg(cluster.pid, signal.SIGKILL)
        stop(cluster)
        job.refresh_from_db()
        assert job.status == "RUNNING"
        assert 100 <= job.objects_done < total, (tmp_path / "qcluster.log").read_text()[-3000:]

        assert sweep() == 0  # the lease has not run out yet
        time.sleep(3.5)
        # The batches the dead worker queued still wait in the queue: a backlog, not lost work.
        assert batches_waiting(job)
        assert sweep() == 0
        # Another worker takes them; the batch the dead worker held is left PENDING. (The
        # scheduled sweeper is left out of that cluster, so that this test sweeps by itself.)
        waiting = queued_batches(job)
        Schedule.objects.filter(func="jobs.tasks.sweep").delete()
        log = tmp_path / "qcluster-2.log"
        second = start_cluster(
            counter.endpoint, log, PUSH_BATCH_SIZE="150", PUSH_THREADS="2", JOB_LEASE_SECONDS="3"
        )
        try:
            deadline = time.monotonic() + 60
            while log.read_text().count("Processed 'jobs.tasks.push_batch'") < waiting:
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.1)
        finally:
            stop(second)
        job.refresh_from_db()
        assert job.status == "RUNNING"
        assert job.objects_done < total
        time.sleep(3.5)
        monkeypatch.setattr(Conf, "SYNC", True)  # the resumed batches run here and now
        settings.AWS_ENDPOINT_URL = counter.endpoint
        assert sweep() == 1
    finally:
        counter.stop()
    settings.AWS_ENDPOINT_URL = s3_endpoint
    job.refresh_from_db()
    assert job.status == "SUCCEEDED", (job.error_type, job.error_message)
    assert_landed_once(job, total)
    assert any("resuming" in line.message for line in job.log_lines.all())
    # Copies: each object once, plus at most what was in flight when the worker died
    # (PUSH_THREADS x 2 queued), plus the write check, its removal, lims.csv and listings.
    assert counter.forwarded <= total + 2 * 2 + 10
