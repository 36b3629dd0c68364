"""A dry run: resolve the configuration and freeze the manifest, sending nothing."""

from __future__ import annotations

from django.db import transaction

from jobs.manifest import record_manifest, with_checksums
from jobs.models import AtDestination, Job, JobObject
from jobs.push import identical_at_destination
from jobs.runner import stop_if_aborted
from jobs.targets import S3Target
from shares.destinations import ICAV2_SCHEME, parse_destination
from shares.models import DryRun
from shares.resolve import ManifestEntry, precedence_notes, resolve
from sharing_project.s3.objects import check_can_write, write_refusal


def execute_dry_run(job: Job) -> None:
    """Steps: resolve (catalogue and S3 listings); find each object's checksum (reading those
    with none, if allowed); stop if aborted; write the manifest as the job's objects with
    totals; warn about archived objects; for a push, preview the destination; record the
    DryRun for the gate."""
    job.log("Resolving the selection.")
    for note in precedence_notes(job.config):
        job.log(note, level="WARNING")
    manifest = with_checksums(job, resolve(job.config))
    stop_if_aborted(job)
    size = sum(entry.size for entry in manifest)
    with transaction.atomic():
        record_manifest(job, manifest, JobObject.Status.LISTED)
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
    writable, note = preview_destination(job) if job.destination else (None, "")
    DryRun.objects.create(
        share_request=job.share_request,
        job=job,
        object_count=len(manifest),
        total_bytes=size,
        archived_count=len(archived),
        destination_writable=writable,
        destination_note=note,
    )


def preview_destination(job: Job) -> tuple[bool | None, str]:
    """What a push's destination holds, as the dry run's objects will meet it: whether it takes
    writes (checked leaving nothing there) and which objects are there already, identical (a
    push skips them) or with other content (a push overwrites them). Returns (writable, why
    not or why not checked)."""
    if parse_destination(job.destination).scheme == ICAV2_SCHEME:
        note = "not previewed: ICAv2 hands out write credentials for a folder the push creates"
        job.log(f"The destination was {note}.")
        return None, note
    try:
        check_can_write(job.destination)
    except Exception as error:
        note = f"Cannot write to {job.destination}: {write_refusal(error)}."
        job.log(f"{note} A push would fail; fix the destination or its permissions.", "WARNING")
        return False, note
    existing = S3Target(parse_destination(job.destination)).existing()
    objects = JobObject.objects.filter(job=job)
    identical = identical_at_destination(objects, existing, etags_comparable=True)
    different = [
        pk
        for pk, uri in objects.values_list("pk", "destination_uri")
        if uri in existing and pk not in identical
    ]
    for state, pks in (
        (AtDestination.IDENTICAL, sorted(identical)),
        (AtDestination.DIFFERENT, different),
    ):
        for start in range(0, len(pks), 1000):
            JobObject.objects.filter(pk__in=pks[start : start + 1000]).update(at_destination=state)
    job.log(
        f"{job.destination} takes writes; {len(identical)} object(s) already there identical "
        f"(a push skips them), {len(different)} there with other content (a push overwrites "
        "them)."
    )
    if different:
        job.log(
            f"{len(different)} object(s) at {job.destination} have other content and would be "
            "overwritten: see the dry run's objects (atDestination=different).",
            level="WARNING",
        )
    return True, ""


def _archived_warning(job: Job, archived: list[ManifestEntry]) -> str:
    shown = ", ".join(entry.source_uri for entry in archived[:10])
    more = f" and {len(archived) - 10} more" if len(archived) > 10 else ""
    if job.config.get("defrostArchivedFastqs"):
        advice = "the share will request their restore and fail until they are restored"
    else:
        advice = "the share will fail on them; set defrostArchivedFastqs to request their restore"
    return f"{len(archived)} archived object(s) not restored: {shown}{more}; {advice}."
