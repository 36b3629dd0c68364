"""A dry run: resolve the configuration and freeze the manifest, sending nothing."""

from __future__ import annotations

from jobs.estimate import estimate_dry_run
from jobs.incremental import nothing_new_message
from jobs.manifest import manifest_totals, record_resolution
from jobs.models import AtDestination, Job, JobObject
from jobs.push import identical_at_destination
from jobs.targets import S3Target
from shares.contract import ShareType
from shares.destinations import ICAV2_SCHEME, parse_destination
from shares.models import DryRun
from shares.resolve import precedence_notes, resolve_pages
from sharing_project.s3.objects import check_can_write, write_refusal


def execute_dry_run(job: Job) -> None:
    """Steps: resolve (catalogue and S3 listings) a page at a time, recording each page as the
    job's objects with its checksums (reading those with none, if allowed); store the totals;
    warn about archived objects; say when an incremental share finds nothing new; for a push,
    preview the destination; estimate what the share will cost (jobs.estimate); record the
    DryRun, with the estimate, for the gate."""
    job.log("Resolving the selection.")
    for note in precedence_notes(job.config):
        job.log(note, level="WARNING")
    record_resolution(job, resolve_pages(job.config), JobObject.Status.LISTED)
    count, size = manifest_totals(job)
    Job.objects.filter(pk=job.pk).update(
        objects_total=count, objects_done=count, bytes_total=size, bytes_done=size
    )
    archived = JobObject.objects.filter(job=job, archived=True)
    archived_count = archived.count()
    if archived_count:
        first = list(archived.order_by("position").values_list("source_uri", flat=True)[:10])
        job.log(_archived_warning(job, first, archived_count), level="WARNING")
    job.log(f"Would share {count} object(s), {size} bytes.")
    left_out = job.left_out_summary()
    if left_out is not None and left_out.objects and not count:
        then = (
            "A push of this dry run is refused: there is nothing to send."
            if job.share_type == ShareType.PUSH
            else "A pull now would hand out no links."
        )
        job.log(f"{nothing_new_message(left_out)} {then}", level="WARNING")
    writable, note = preview_destination(job) if job.destination else (None, "")
    estimate = estimate_dry_run(job)
    DryRun.objects.create(
        share_request=job.share_request,
        job=job,
        object_count=count,
        total_bytes=size,
        archived_count=archived_count,
        destination_writable=writable,
        destination_note=note,
        estimate=estimate,
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
    objects = JobObject.objects.filter(job=job)
    listing = S3Target(parse_destination(job.destination)).listed()
    identical = different = 0
    for same, other in identical_at_destination(objects, listing, etags_comparable=True):
        for state, pks in ((AtDestination.IDENTICAL, same), (AtDestination.DIFFERENT, other)):
            if pks:
                JobObject.objects.filter(pk__in=pks).update(at_destination=state)
        identical, different = identical + len(same), different + len(other)
    job.log(
        f"{job.destination} takes writes; {identical} object(s) already there identical "
        f"(a push skips them), {different} there with other content (a push overwrites "
        "them)."
    )
    if different:
        job.log(
            f"{different} object(s) at {job.destination} have other content and would be "
            "overwritten: see the dry run's objects (atDestination=different).",
            level="WARNING",
        )
    return True, ""


def _archived_warning(job: Job, first: list[str], count: int) -> str:
    shown = ", ".join(first)
    more = f" and {count - len(first)} more" if count > len(first) else ""
    if job.config.get("defrostArchivedFastqs"):
        advice = "the share will request their restore and fail until they are restored"
    else:
        advice = "the share will fail on them; set defrostArchivedFastqs to request their restore"
    return f"{count} archived object(s) not restored: {shown}{more}; {advice}."
