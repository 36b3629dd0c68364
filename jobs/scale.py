"""A finished pull of any size, written straight to the database, for measuring what reads a
big job (its detail, status report, object list, new links) without sharing anything first.

The pull shares the big workflow run of `catalogue.scale` with the same number of outputs: its
objects are that run's outputs as `big_run_objects` plans them (whether or not they are in S3),
with the paths, sizes and MD5s a real pull would record. It is found again by its share
request's fingerprint and its author, the `seed-scale` user, so seeding twice makes one job.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from catalogue.scale import (
    BIG_RUN_WORKFLOW,
    big_run_id,
    big_run_objects,
    big_run_prefix,
    chunked,
    upsert_big_run,
)
from jobs.models import Job, JobObject, JobStatus
from shares.checksums import ChecksumSource
from shares.contract import ShareType
from shares.models import ShareRequest
from shares.validation import LaunchSerializer

BATCH = 5000
SEED_USER = "seed-scale"


@dataclass(frozen=True)
class SeededJob:
    job: Job
    created: bool


def pull_payload(objects: int) -> dict:
    """The launch payload of a pull of the big run with `objects` outputs."""
    return {
        "shareType": ShareType.PULL.value,
        "dataTypeList": ["SecondaryAnalysis"],
        "portalRunIdList": [big_run_id(objects)],
    }


def seed_finished_pull(bucket: str, objects: int) -> SeededJob:
    """The SUCCEEDED pull (not a dry run) of the big run with `objects` outputs, and its
    JobObjects; made once, in one transaction.

    Steps: upsert the big run in the catalogue; normalise the pull's configuration with the
    launch serializer; return the job the seed user already has for it, or else create the
    share request, the finished job, its objects (generated one at a time, never held
    together) and its totals, and a log line saying where it came from.
    """
    with transaction.atomic():
        upsert_big_run(bucket, objects)
        share_request = ShareRequest.for_config(_normalised(pull_payload(objects)))
        user = _seed_user()
        found = Job.objects.filter(share_request=share_request, created_by=user, dryrun=False)
        if job := found.first():
            return SeededJob(job, created=False)
        now = timezone.now()
        job = Job.objects.create(
            share_request=share_request,
            share_type=ShareType.PULL,
            status=JobStatus.SUCCEEDED,
            created_by=user,
            created_at=now,
            started_at=now,
            finished_at=now,
        )
        count, size = _write_job_objects(_job_objects(job, bucket, objects))
        Job.objects.filter(pk=job.pk).update(
            objects_total=count, bytes_total=size, objects_done=count, bytes_done=size
        )
        job.log(
            f"Written by seed_scale: {count} objects of workflow run {big_run_id(objects)}, "
            "straight to the database (nothing was resolved, signed or shared)."
        )
    job.refresh_from_db()
    job.object_summary()  # as a worker counts it when a job ends
    return SeededJob(job, created=True)


def _normalised(payload: dict) -> dict:
    launch = LaunchSerializer(data=payload)
    launch.is_valid(raise_exception=True)
    return launch.normalised_config


def _seed_user():
    """The author of seeded jobs: no password, no staff access."""
    user, created = get_user_model().objects.get_or_create(username=SEED_USER)
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def _job_objects(job: Job, bucket: str, objects: int) -> Iterator[dict]:
    """The fields of each JobObject that differ from their defaults, one row at a time."""
    run_id, workflow = big_run_id(objects), BIG_RUN_WORKFLOW.value
    prefix = big_run_prefix(bucket, objects)
    folder = f"secondary-analysis/{workflow}/{run_id}/"
    for position, planned in enumerate(big_run_objects(bucket, objects)):
        md5 = planned.etag  # written in one request: the ETag is the MD5
        yield {
            "job_id": job.pk,
            "position": position,
            "kind": JobObject.Kind.SECONDARY.value,
            "source_uri": planned.uri,
            "relative_path": folder + planned.uri[len(prefix) :],
            "size": len(planned.body),
            "etag": md5,
            "portal_run_id": run_id,
            "workflow_name": workflow,
            "status": JobObject.Status.PRESIGNED.value,
            "md5": md5,
            "checksum_source": ChecksumSource.MD5_ETAG.value,
        }


def _write_job_objects(rows: Iterator[dict]) -> tuple[int, int]:
    """Insert the rows; return their count and bytes. PostgreSQL gets them by COPY, every
    other database by bulk_create in batches of BATCH: Django builds and prepares 27 fields
    per row, which made a million rows take six minutes where COPY takes about one."""
    fields = [f for f in JobObject._meta.concrete_fields if not f.primary_key]
    defaults = {f.attname: f.get_default() for f in fields}
    count = size = 0

    def counted(rows: Iterator[dict]) -> Iterator[dict]:
        nonlocal count, size
        for row in rows:
            count += 1
            size += row["size"]
            yield defaults | row

    if connection.vendor != "postgresql":
        for chunk in chunked(counted(rows), BATCH):
            JobObject.objects.bulk_create(JobObject(**row) for row in chunk)
        return count, size
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    sql = f"COPY {quote(JobObject._meta.db_table)} ({columns}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for row in counted(rows):
            copy.write_row([row[f.attname] for f in fields])
    return count, size
