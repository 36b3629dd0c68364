"""A dry run: resolve the configuration and freeze the manifest, sending nothing."""

from __future__ import annotations

from django.db import transaction

from jobs.manifest import record_manifest, with_checksums
from jobs.models import Job, JobObject
from jobs.runner import stop_if_aborted
from shares.models import DryRun
from shares.resolve import ManifestEntry, precedence_notes, resolve


def execute_dry_run(job: Job) -> None:
    """Steps: resolve (catalogue and S3 listings); find each object's checksum (reading those
    with none, if allowed); stop if aborted; write the manifest as the job's objects with
    totals; warn about archived objects; record the DryRun for the gate."""
    job.log("Resolving the selection.")
    for note in precedence_notes(job.config):
        job.log(note, level="WARNING")
    manifest = with_checksums(job, resolve(job.config))
    stop_if_aborted(job)
    with transaction.atomic():
        record_manifest(job, manifest, JobObject.Status.LISTED)
        size = sum(entry.size for entry in manifest)
        Job.objects.filter(pk=job.pk).update(
            objects_total=len(manifest),
            objects_done=len(manifest),
            bytes_total=size,
            bytes_done=size,
        )
        archived = [entry for entry in manifest if entry.archived]
        if archived:
            job.log(_archived_warning(job, archived), level="WARNING")
        job.log(f"Would share {len(manifest)} object(s), {size} bytes.")
        DryRun.objects.create(
            share_request=job.share_request,
            job=job,
            object_count=len(manifest),
            total_bytes=size,
            archived_count=len(archived),
        )


def _archived_warning(job: Job, archived: list[ManifestEntry]) -> str:
    shown = ", ".join(entry.source_uri for entry in archived[:10])
    more = f" and {len(archived) - 10} more" if len(archived) > 10 else ""
    if job.config.get("defrostArchivedFastqs"):
        advice = "the share will request their restore and fail until they are restored"
    else:
        advice = "the share will fail on them; set defrostArchivedFastqs to request their restore"
    return f"{len(archived)} archived object(s) not restored: {shown}{more}; {advice}."
