"""A push survives a throttling, connection-dropping S3 and a worker killed mid-push."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import OrmQ

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


def many_outputs(count: int, portal_run_id: str = "20240601abcdef00") -> WorkflowRun:
    """A workflow run with `count` small outputs, enough for a push to take a few seconds (its
    own portal run id for each test: the S3 server keeps the demo's bucket between tests)."""
    run = WorkflowRun.objects.create(
        portal_run_id=portal_run_id,
        workflow_name="sash",
        output_uri=f"s3://{settings.DEMO_BUCKET}/analysis/sash/{portal_run_id}/",
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


def on_postgresql() -> bool:
    return connection.vendor == "postgresql"


def skip_unless_postgresql() -> None:
    if not on_postgresql():
        pytest.skip("needs PostgreSQL (DATABASE_URL): several clusters on one database")


def launch_push_of(
    launch, operator_client, monkeypatch, run: WorkflowRun, destination: str
) -> tuple[Job, dict]:
    """A dry run of the run's outputs, then its push, queued for real (not run here)."""
    payload = push_payload(run.portal_run_id, destination)
    assert launch(**payload, dryrun=True).status_code == 202
    monkeypatch.setattr(Conf, "SYNC", False)
    response = operator_client.post("/api/v1/jobs", payload, format="json")
    assert response.status_code == 202
    return Job.objects.get(pk=response.json()["id"]), payload


def wait_until(condition, timeout: float, logs: list[Path]) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "\n".join(log.read_text()[-3000:] for log in logs)
        time.sleep(0.1)


def finished(job: Job) -> bool:
    job.refresh_from_db()
    return job.is_finished


def assert_copied_once(job: Job, expected: int, counter: FaultProxy) -> None:
    """Every object at the destination with its source's ETag, the job SUCCEEDED, and exactly
    one copy request per object reached S3."""
    job.refresh_from_db()
    assert job.status == "SUCCEEDED", (job.error_type, job.error_message)
    objects = JobObject.objects.filter(job=job)
    assert objects.count() == expected
    assert set(objects.values_list("status", flat=True)) <= {"COPIED", "SKIPPED"}
    landed = {f"s3://{o.bucket}/{o.key}": o.etag for o in list_objects(job.destination)}
    assert len(landed) == expected + 2  # and lims.csv, checksums.md5
    assert all(landed[uri] == etag for uri, etag in objects.values_list("destination_uri", "etag"))
    assert job.objects_done == job.objects_total == expected
    assert counter.copies == expected


@pytest.mark.django_db(transaction=True)
def test_two_clusters_share_a_push_and_copy_every_object_once(
    launch, demo, operator_client, s3_endpoint, monkeypatch, tmp_path
):
    """Two qcluster processes (two machines) on one PostgreSQL take the batches of one push
    from the ORM queue; each object is copied by exactly one of them."""
    skip_unless_postgresql()
    ensure_bucket("collaborator-bucket")
    total = 1000  # moto copies some 80 objects a second: a push of 12 s
    run = many_outputs(total, "20240601abcdef01")
    counter = FaultProxy(s3_endpoint).start()
    logs = [tmp_path / "qcluster-1.log", tmp_path / "qcluster-2.log"]
    env = {"PUSH_BATCH_SIZE": "50", "PUSH_THREADS": "4", "Q_CLUSTER_WORKERS": "2"}
    clusters = [start_cluster(counter.endpoint, log, **env) for log in logs]
    try:
        wait_until(lambda: all("running" in log.read_text() for log in logs), 30, logs)
        job, _ = launch_push_of(
            launch, operator_client, monkeypatch, run, "s3://collaborator-bucket/shared/"
        )
        wait_until(lambda: finished(job), 60, logs)
    finally:
        for cluster in clusters:
            stop(cluster)
        counter.stop()
    assert_copied_once(job, total, counter)
    for log in logs:  # both machines copied
        assert "Processed 'jobs.tasks.push_batch'" in log.read_text(), log.read_text()[-3000:]


def cut_off_the_database(seconds: float) -> int:
    """End every other connection to the test database, again and again for `seconds` (as a
    restart would: the cluster's connections break and new ones die at once); how many."""
    ended = 0
    deadline = time.monotonic() + seconds
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            ended += cursor.fetchone()[0]
            time.sleep(0.05)
    return ended


@pytest.mark.django_db(transaction=True)
def test_a_push_carries_on_when_its_database_comes_back(
    launch, demo, operator_client, s3_endpoint, monkeypatch, tmp_path
):
    """The database goes away for 5 s in the middle of a push (every connection of the
    cluster is ended and new ones are refused, as in a restart): the batch that was copying
    waits for it and carries on, where it used to die and leave the push standing until its
    lease ran out (two minutes) and the sweeper resumed it."""
    skip_unless_postgresql()
    ensure_bucket("collaborator-bucket")
    total = 1200
    run = many_outputs(total, "20240601abcdef02")
    counter = FaultProxy(s3_endpoint).start()
    log = tmp_path / "qcluster.log"
    job, _ = launch_push_of(
        launch, operator_client, monkeypatch, run, "s3://collaborator-bucket/outage/"
    )
    cluster = start_cluster(counter.endpoint, log, PUSH_BATCH_SIZE="400", PUSH_THREADS="2")
    try:
        wait_until(lambda: job.refresh_from_db() or job.objects_done >= 100, 30, [log])
        ended = cut_off_the_database(seconds=5)
        assert ended >= 1  # the cluster's connections
        job.refresh_from_db()
        assert job.status == "RUNNING"
        assert job.objects_done < total
        # Within 30 s of the database's return (the lease, JOB_LEASE_SECONDS, is 30 s: no
        # sweeper has to notice anything).
        wait_until(lambda: finished(job), 30, [log])
    finally:
        stop(cluster)
        counter.stop()
    assert_copied_once(job, total, counter)
    assert "database unavailable" in log.read_text()


@pytest.mark.django_db(transaction=True)
def test_a_push_whose_cluster_is_killed_is_finished_by_a_new_cluster(
    launch, demo, operator_client, s3_endpoint, monkeypatch, tmp_path
):
    """A real qcluster copies part of a push and its process group is killed with SIGKILL;
    a new cluster starts. It takes the batches still queued, adopts the objects the dead
    worker held once their claims run out, and the sweeper (the new cluster's own schedule)
    queues the batches the dead cluster had taken from the queue: the push ends with every
    object there, each copied once (what the dead worker had copied is found there)."""
    ensure_bucket("collaborator-bucket")
    total = 600
    run = many_outputs(total, "20240601abcdef03")
    counter = FaultProxy(s3_endpoint).start()
    env = {"PUSH_BATCH_SIZE": "100", "PUSH_THREADS": "2", "JOB_LEASE_SECONDS": "6"}
    first, second = tmp_path / "qcluster-1.log", tmp_path / "qcluster-2.log"
    try:
        job, _ = launch_push_of(
            launch, operator_client, monkeypatch, run, "s3://collaborator-bucket/resumed/"
        )
        cluster = start_cluster(counter.endpoint, first, **env)
        wait_until(lambda: job.refresh_from_db() or job.objects_done >= 100, 30, [first])
        os.killpg(cluster.pid, signal.SIGKILL)
        stop(cluster)
        job.refresh_from_db()
        assert job.status == "RUNNING"
        assert 100 <= job.objects_done < total
        assert sweep() == 0  # its lease has not run out yet
        assert batches_waiting(job)
        cluster = start_cluster(counter.endpoint, second, **env)
        try:
            wait_until(lambda: finished(job), 45, [first, second])
        finally:
            stop(cluster)
    finally:
        counter.stop()
    # Copies: one per object; what the dead worker had copied but not recorded was found at
    # the destination, not copied again.
    assert_copied_once(job, total, counter)
