"""A job's manifest: its JobObjects, written from a resolution or copied from a dry run."""

from __future__ import annotations

from dataclasses import asdict, fields

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


class _JobReading:
    """Objects read for their checksums show as the job's progress; an abort stops the reads."""

    def __init__(self, job: Job):
        self.job = job

    def start(self, count: int, size: int) -> None:
        Job.objects.filter(pk=self.job.pk).update(
            objects_total=count, bytes_total=size, objects_done=0, bytes_done=0
        )
        self.job.log(f"Reading {count} object(s), {size} bytes, to compute their checksums.")

    def read(self, entry: ManifestEntry) -> None:
        self.job.add_progress(1, entry.size)

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
