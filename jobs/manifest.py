"""A job's manifest: its JobObjects, written from a resolution or copied from a dry run."""

from __future__ import annotations

from jobs.models import Job, JobObject
from shares.destinations import parse_destination
from shares.resolve import ManifestEntry

BATCH = 1000


def record_manifest(job: Job, manifest: list[ManifestEntry], status: str) -> None:
    destination = parse_destination(job.destination) if job.destination else None
    rows = (
        JobObject(
            job=job,
            position=position,
            kind=entry.kind,
            source_uri=entry.source_uri,
            relative_path=entry.relative_path,
            destination_uri=destination.uri_for(entry.relative_path) if destination else "",
            size=entry.size,
            etag=entry.etag,
            storage_class=entry.storage_class,
            archived=entry.archived,
            library_id=entry.library_id,
            instrument_run_id=entry.instrument_run_id,
            lane=entry.lane,
            portal_run_id=entry.portal_run_id,
            workflow_name=entry.workflow_name,
            status=status,
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
    """JobObjects back as manifest entries (for the archive check)."""
    return [
        ManifestEntry(
            kind=o.kind,
            source_uri=o.source_uri,
            relative_path=o.relative_path,
            size=o.size,
            etag=o.etag,
            storage_class=o.storage_class,
            archived=o.archived,
        )
        for o in objects
    ]
