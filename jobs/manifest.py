"""A job's manifest: its JobObjects, written from a resolution or copied from a dry run."""

from __future__ import annotations

from dataclasses import asdict, fields

from jobs.models import Job, JobObject
from shares.destinations import parse_destination
from shares.resolve import ManifestEntry

BATCH = 1000


def record_manifest(job: Job, manifest: list[ManifestEntry], status: str) -> None:
    """One JobObject per entry, in manifest order, each with its destination URI."""
    destination = parse_destination(job.destination) if job.destination else None
    rows = (
        JobObject(
            job=job,
            position=position,
            destination_uri=destination.uri_for(entry.relative_path) if destination else "",
            status=status,
            **asdict(entry),
        )
        for position, entry in enumerate(manifest)
    )
    JobObject.objects.bulk_create(rows, batch_size=BATCH)


def copy_manifest(source: Job, job: Job) -> None:
    """Give `job` exactly the objects `source` (its dry run) listed, to be sent, and their totals.

    Destination URIs are recomputed from `job`'s own destination, which is the same as the
    dry run's, since both share one configuration fingerprint.
    """
    destination = parse_destination(job.destination) if job.destination else None
    objects = source.job_objects.order_by("position").iterator(chunk_size=BATCH)
    batch: list[JobObject] = []
    count = size = 0
    for listed in objects:
        listed.pk = None
        listed.job = job
        listed.status = JobObject.Status.PENDING
        listed.error = ""
        if destination:
            listed.destination_uri = destination.uri_for(listed.relative_path)
        batch.append(listed)
        count, size = count + 1, size + listed.size
        if len(batch) == BATCH:
            JobObject.objects.bulk_create(batch)
            batch = []
    JobObject.objects.bulk_create(batch)
    Job.objects.filter(pk=job.pk).update(objects_total=count, bytes_total=size)


def manifest_entries(objects) -> list[ManifestEntry]:
    """JobObjects back as manifest entries (for the archive check and new links)."""
    names = [entry_field.name for entry_field in fields(ManifestEntry)]
    return [ManifestEntry(**{name: getattr(o, name) for name in names}) for o in objects]
