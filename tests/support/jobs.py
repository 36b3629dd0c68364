"""A finished job of many objects, written straight to the database (no S3, no worker): for
the tests of listings whose cost must not grow with a job's size."""

from __future__ import annotations

from django.contrib.auth.models import User

from jobs.models import Job, JobObject, JobStatus
from shares.models import ShareRequest


def finished_job(user: User, n: int, *, every_failed: int = 0) -> Job:
    """A SUCCEEDED pull of `n` fastq objects at positions 0..n-1 (R1 and R2 of one library and
    lane each); with `every_failed`, every so many is FAILED instead of PRESIGNED."""
    config = {"libraryIdList": ["L2400001"], "dataTypeList": ["Fastq"], "shareType": "pull"}
    share = ShareRequest.objects.create(fingerprint=f"many-{n}-{every_failed}", config=config)
    job = Job.objects.create(
        share_request=share,
        share_type="pull",
        status=JobStatus.SUCCEEDED,
        created_by=user,
        objects_total=n,
        objects_done=n,
        bytes_total=10 * n,
        bytes_done=10 * n,
    )
    JobObject.objects.bulk_create(
        JobObject(
            job=job,
            position=i,
            kind=JobObject.Kind.FASTQ,
            source_uri=f"s3://bucket/L{2400000 + i // 2:07d}_R{i % 2 + 1}.fastq.gz",
            relative_path=f"fastq/RUN/Lane_1/L{2400000 + i // 2:07d}_R{i % 2 + 1}.fastq.gz",
            size=10,
            library_id=f"L{2400000 + i // 2:07d}",
            instrument_run_id="RUN",
            lane=1,
            checksum_source="md5-etag",
            status=JobObject.Status.FAILED
            if every_failed and i % every_failed == 0
            else JobObject.Status.PRESIGNED,
        )
        for i in range(n)
    )
    return job
