"""A job's manifest: its JobObjects, written from a resolution or copied from a dry run."""

from __future__ import annotations

from dataclasses import asdict, fields

from django.db import connection
from django.db.models import Count, Sum

from jobs.models import Job, JobObject, ShareType
from shares.checksums import ChecksumSource, find_checksums, summary
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


# What a push's object starts with, whatever its dry run's object had: the push's own state.
_FRESH = {
    "status": JobObject.Status.PENDING.value,
    "error": "",
    "destination_etag": "",
    "verified_by": "",
    "at_destination": "",
}


def copy_manifest(source: Job, job: Job) -> None:
    """Give `job` exactly the objects `source` (its dry run) listed, to be sent, and their
    totals: one INSERT ... SELECT inside the database (no row passes through this process).
    The push's worker calls it (jobs.push.take_manifest), in the transaction that counts the
    totals, never the launch.

    The destination URIs are the dry run's: both jobs share one configuration fingerprint,
    which includes the normalised destination.
    """
    copied = [
        field.column
        for field in JobObject._meta.concrete_fields
        if not field.primary_key and field.name != "job" and field.name not in _FRESH
    ]
    job_field = JobObject._meta.get_field("job")
    fresh = [JobObject._meta.get_field(name).column for name in _FRESH]
    quote = connection.ops.quote_name
    table, job_column = quote(JobObject._meta.db_table), quote(job_field.column)
    targets = ", ".join(quote(column) for column in [job_field.column, *fresh, *copied])
    placeholders = ", ".join(["%s"] * (1 + len(fresh)))
    columns = ", ".join(quote(column) for column in copied)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({targets}) SELECT {placeholders}, {columns} "  # noqa: S608
            f"FROM {table} WHERE {job_column} = %s",
            [
                job_field.get_db_prep_value(job.pk, connection),
                *_FRESH.values(),
                job_field.get_db_prep_value(source.pk, connection),
            ],
        )
    totals = job.job_objects.aggregate(count=Count("pk"), size=Sum("size"))
    Job.objects.filter(pk=job.pk).update(
        objects_total=totals["count"], bytes_total=totals["size"] or 0
    )


def manifest_entries(objects) -> list[ManifestEntry]:
    """JobObjects back as manifest entries (for the archive check and new links)."""
    names = [entry_field.name for entry_field in fields(ManifestEntry)]
    return [ManifestEntry(**{name: getattr(o, name) for name in names}) for o in objects]


class _JobReading:
    """Objects read for their checksums show as the job's progress; an abort stops the reads."""

    def __init__(self, job: Job):
        self.job = job

    def start(self, count: int, size: int) -> None:
        Job.objects.filter(pk=self.job.pk).update(
            objects_total=count, bytes_total=size, objects_done=0, bytes_done=0
        )
        self.job.log(f"Reading {count} object(s), {size} bytes, to compute their checksums.")

    def read(self, entries: list[ManifestEntry]) -> None:
        self.job.add_progress(len(entries), sum(entry.size for entry in entries))

    def should_stop(self) -> bool:
        return self.job.abort_was_requested()


def with_checksums(job: Job, manifest: list[ManifestEntry]) -> list[ManifestEntry]:
    """The manifest with each object's checksum (shares.checksums), the reads shown as the
    job's progress; logs how many objects and bytes are verified which way, and warns of the
    ones verified by size only."""
    for_download = job.share_type == ShareType.PULL
    manifest = find_checksums(manifest, for_download=for_download, reading=_JobReading(job))
    labels = dict(ChecksumSource.choices)
    report = "; ".join(
        f"{labels[source]} for {count} object(s) ({size} bytes)"
        for source, (count, size) in sorted(summary(manifest).items())
    )
    job.log(f"Checksums: {report}." if report else "Nothing to verify.")
    size_only = [e for e in manifest if e.checksum_source == ChecksumSource.SIZE_ONLY]
    if size_only:
        shown = ", ".join(entry.source_uri for entry in size_only[:5])
        more = f" and {len(size_only) - 5} more" if len(size_only) > 5 else ""
        job.log(
            f"{len(size_only)} object(s) will be verified by size only ({shown}{more}): "
            f"{size_only[0].checksum_note}.",
            level="WARNING",
        )
    return manifest
