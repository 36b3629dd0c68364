import logging
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from audit.models import AuditAction
from audit.services import record_links
from jobs.archive import refuse_archived
from jobs.incremental import nothing_new_message
from jobs.lims import lims_rows, render_lims_csv
from jobs.manifest import (
    forget_manifest,
    manifest_entries,
    manifest_totals,
    pages_by_position,
    record_resolution,
)
from jobs.models import Job, JobObject
from jobs.runner import stop_if_aborted
from jobs.script import ChecksumLists, ScriptEntry, write_download_script
from sharelinks.services import issue_link, link_days
from shares.resolve import precedence_notes, resolve_pages
from sharing_project.errors import SharingBucketMissing
from sharing_project.s3.objects import bucket_exists, upload_file
from sharing_project.s3.presign import Presigner, presigner

logger = logging.getLogger(__name__)
PROGRESS_BATCH = 2000
SCRIPT_NAME = "data-download.sh"
LIMS_NAME = "lims.csv"


def execute_pull(job: Job) -> None:
    """Steps: resolve a page at a time, recording each page as the job's objects with its
    checksums (reading those with none, if allowed); refuse (or restore) archived objects;
    then `publish_links`, saving progress as the links are signed. An incremental pull that
    finds nothing new makes no links (a script that downloads nothing helps nobody)."""
    job.log("Resolving the selection.")
    for note in precedence_notes(job.config):
        job.log(note, level="WARNING")
    record_resolution(job, resolve_pages(job.config), JobObject.Status.PENDING)
    try:
        archived = JobObject.objects.filter(job=job, archived=True).order_by("position")
        refuse_archived(
            manifest_entries(archived), defrost=job.config.get("defrostArchivedFastqs", False)
        )
    except BaseException:
        forget_manifest(job)
        raise
    count, size = manifest_totals(job)
    Job.objects.filter(pk=job.pk).update(
        objects_total=count, bytes_total=size, objects_done=0, bytes_done=0
    )
    left_out = job.left_out_summary()
    if left_out is not None and left_out.objects and not count:
        job.log(f"{nothing_new_message(left_out)} No links were made.", level="WARNING")
        return
    publish_links(job, count, size, count_progress=True)
    JobObject.objects.filter(job=job).update(status=JobObject.Status.PRESIGNED)


def renew_links(job: Job) -> None:
    """Fresh links for a finished pull, from the objects it recorded (nothing is resolved
    again): new presigned URLs, a new script and LIMS CSV in place of the old ones."""
    count, size = manifest_totals(job)
    publish_links(job, count, size, count_progress=False)


def renew_links_task(job_id: str) -> str:
    """The worker's side of "new links": a failure is logged on the job, whose status (a
    finished pull) does not change."""
    job = Job.objects.select_related("share_request").filter(pk=job_id).first()
    if job is None or not job.links_renewable:
        return "SKIPPED"
    try:
        renew_links(job)
    except Exception as error:
        logger.exception("new links for job %s failed", job_id)
        job.log(f"New links failed: {type(error).__name__}: {error}", level="ERROR")
        return "FAILED"
    job.refresh_from_db()  # the new links' expiry
    record_links(job, AuditAction.LINKS_RENEWED)
    return "RENEWED"


def publish_links(job: Job, count: int, size: int, *, count_progress: bool) -> None:
    """Steps: write the script's file list and the checksum lists to local files a page at a
    time (checking for an abort between pages); write the LIMS CSV; upload the files to the
    sharing bucket under pull/<job id>/ (in parts when big); then hand them out. With
    PUBLIC_BASE_URL set, through a share link (sharelinks): the script names each file by its
    position, fetched through the link, and the job's outputs are the link's; otherwise each
    file gets a presigned GET URL, and the job stores presigned URLs of the CSV, the script and
    one checksum list with their true expiry. `count` and `size`: the job's objects and bytes."""
    if not bucket_exists(settings.SHARING_BUCKET):
        raise SharingBucketMissing(
            f"The sharing bucket {settings.SHARING_BUCKET!r} does not exist: create it, or set "
            "SHARING_BUCKET to a bucket this service can write to."
        )
    through_link = bool(settings.PUBLIC_BASE_URL)
    signer = None if through_link else presigner(settings.PRESIGNED_URL_LIFETIME_SECONDS)
    if signer is not None and signer.warning:
        job.log(signer.warning, level="WARNING")
    expires_at = (
        timezone.now().replace(microsecond=0) + timedelta(days=link_days(job))
        if signer is None
        else signer.expires_at
    )
    prefix = f"s3://{settings.SHARING_BUCKET}/pull/{job.pk}/"
    lims_uri, script_uri = prefix + LIMS_NAME, prefix + SCRIPT_NAME
    with tempfile.TemporaryDirectory(prefix="dsm-pull-") as temporary:
        folder = Path(temporary)
        script_path, lims_path = folder / SCRIPT_NAME, folder / LIMS_NAME
        with script_path.open("w") as script, ChecksumLists(folder) as lists:
            pages = _script_pages(job, signer, lists, count_progress=count_progress)
            write_download_script(
                script, str(job.pk), pages, count, size, expires_at, share_link=through_link
            )
        job.log(
            f"Listed {count} file(s) for the share link."
            if signer is None
            else f"Signed {count} download link(s)."
        )
        lims_path.write_text(render_lims_csv(lims_rows(job)))
        upload_file(lims_uri, lims_path, content_type="text/csv", download_name=LIMS_NAME)
        upload_file(
            script_uri, script_path, content_type="text/x-shellscript", download_name=SCRIPT_NAME
        )
        checksums_uri = _upload_checksum_lists(job, prefix, lists)
    if signer is None:
        link = issue_link(job)
        Job.objects.filter(pk=job.pk).update(
            lims_csv_uri=lims_uri,
            download_script_uri=script_uri,
            checksums_uri=checksums_uri,
            links_expire_at=link.expires_at,
        )
        job.log(
            f"Wrote {LIMS_NAME} and {SCRIPT_NAME} to {prefix}; the share link is valid until "
            f"{link.expires_at:%Y-%m-%d %H:%M:%S} UTC unless revoked."
        )
        return
    Job.objects.filter(pk=job.pk).update(
        lims_csv_uri=lims_uri,
        lims_csv_url=signer.url(lims_uri),
        download_script_uri=script_uri,
        download_script_url=signer.url(script_uri),
        checksums_uri=checksums_uri,
        checksums_url=signer.url(checksums_uri) if checksums_uri else "",
        links_expire_at=signer.expires_at,
    )
    job.log(
        f"Wrote {LIMS_NAME} and {SCRIPT_NAME} to {prefix}; links valid until "
        f"{signer.expires_at:%Y-%m-%d %H:%M:%S} UTC."
    )


def _script_pages(
    job: Job, signer: Presigner | None, lists: ChecksumLists, *, count_progress: bool
) -> Iterator[list[ScriptEntry]]:
    """The job's objects in order as the script's entries, a page at a time, each page's links
    signed (or, with no signer, each file named by its position, for the share link) and its
    checksums added to `lists`."""
    for page in pages_by_position(JobObject.objects.filter(job=job), PROGRESS_BATCH):
        if signer is None:
            links = [str(item.position) for item in page]
        else:
            links = signer.urls([item.source_uri for item in page])
        entries = [
            ScriptEntry(o.relative_path, link, o.size, md5=o.md5, sha256=o.sha256)
            for o, link in zip(page, links, strict=True)
        ]
        lists.add(entries)
        yield entries
        if count_progress:
            job.add_progress(len(page), sum(item.size for item in page))
            stop_if_aborted(job)


def _upload_checksum_lists(job: Job, prefix: str, lists: ChecksumLists) -> str:
    """Upload checksums.md5 and checksums.sha256 (those with lines) under `prefix`, as
    `md5sum -c` / `sha256sum -c` read them from the share's root; return the URI of the one
    to link (`ChecksumLists.to_link`; the script writes both into the download root)."""
    written = lists.written()
    for name, path in written.items():
        upload_file(prefix + name, path, content_type="text/plain", download_name=name)
    if not written:
        job.log("No file has a checksum: no checksum list was written.", level="WARNING")
        return ""
    job.log(
        f"Wrote {', '.join(written)} to {prefix} ({lists.with_checksum} of {lists.files} file(s))."
    )
    return prefix + lists.to_link()
