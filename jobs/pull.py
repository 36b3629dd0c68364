"""Pull: presigned URLs for every object, a LIMS CSV and a download script for the collaborator."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction

from jobs.archive import refuse_archived
from jobs.lims import lims_rows, render_lims_csv
from jobs.manifest import manifest_entries, record_manifest, with_checksums
from jobs.models import Job, JobObject
from jobs.runner import stop_if_aborted
from jobs.script import CHECKSUM_FILES, ScriptEntry, render_checksum_files, render_download_script
from shares.resolve import ManifestEntry, precedence_notes, resolve
from sharing_project.errors import SharingBucketMissing
from sharing_project.s3.objects import bucket_exists, put_object
from sharing_project.s3.presign import presigner

logger = logging.getLogger(__name__)
PROGRESS_BATCH = 2000
SCRIPT_NAME = "data-download.sh"
LIMS_NAME = "lims.csv"


def execute_pull(job: Job) -> None:
    """Steps: resolve; refuse (or restore) archived objects; find each object's checksum
    (reading those with none, if allowed); record the manifest; then `publish_links`, saving
    progress as the links are signed."""
    job.log("Resolving the selection.")
    for note in precedence_notes(job.config):
        job.log(note, level="WARNING")
    manifest = resolve(job.config)
    refuse_archived(manifest, defrost=job.config.get("defrostArchivedFastqs", False))
    manifest = with_checksums(job, manifest)
    stop_if_aborted(job)
    with transaction.atomic():
        record_manifest(job, manifest, JobObject.Status.PENDING)
        Job.objects.filter(pk=job.pk).update(
            objects_total=len(manifest),
            bytes_total=sum(e.size for e in manifest),
            objects_done=0,
            bytes_done=0,
        )
    publish_links(job, manifest, count_progress=True)
    JobObject.objects.filter(job=job).update(status=JobObject.Status.PRESIGNED)


def renew_links(job: Job) -> None:
    """Fresh links for a finished pull, from the objects it recorded (nothing is resolved
    again): new presigned URLs, a new script and LIMS CSV in place of the old ones."""
    objects = job.job_objects.order_by("position").iterator(chunk_size=PROGRESS_BATCH)
    manifest = manifest_entries(objects)
    publish_links(job, manifest, count_progress=False)


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
    return "RENEWED"


def publish_links(job: Job, manifest: list[ManifestEntry], *, count_progress: bool) -> None:
    """Steps: presign a GET URL per object (in batches, checking for an abort between them);
    write the LIMS CSV, the script and the checksum lists to the sharing bucket under
    pull/<job id>/; store presigned URLs of the CSV, the script and one checksum list on the
    job with their true expiry."""
    signer = presigner(settings.PRESIGNED_URL_LIFETIME_SECONDS)
    if signer.warning:
        job.log(signer.warning, level="WARNING")
    entries: list[ScriptEntry] = []
    for start in range(0, len(manifest), PROGRESS_BATCH):
        batch = manifest[start : start + PROGRESS_BATCH]
        links = signer.urls([e.source_uri for e in batch])
        entries += [
            ScriptEntry(e.relative_path, link, e.size, md5=e.md5, sha256=e.sha256)
            for e, link in zip(batch, links, strict=True)
        ]
        if count_progress:
            job.add_progress(len(batch), sum(e.size for e in batch))
            stop_if_aborted(job)
    job.log(f"Signed {len(entries)} download link(s).")

    if not bucket_exists(settings.SHARING_BUCKET):
        raise SharingBucketMissing(
            f"The sharing bucket {settings.SHARING_BUCKET!r} does not exist: create it, or set "
            "SHARING_BUCKET to a bucket this service can write to."
        )
    prefix = f"s3://{settings.SHARING_BUCKET}/pull/{job.pk}/"
    lims_uri, script_uri = prefix + LIMS_NAME, prefix + SCRIPT_NAME
    csv_text = render_lims_csv(lims_rows(job))
    put_object(lims_uri, csv_text.encode(), content_type="text/csv", download_name=LIMS_NAME)
    script = render_download_script(str(job.pk), entries, signer.expires_at)
    put_object(
        script_uri, script.encode(), content_type="text/x-shellscript", download_name=SCRIPT_NAME
    )
    checksums_uri = write_checksum_lists(job, prefix, entries)
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


def write_checksum_lists(job: Job, prefix: str, entries: list[ScriptEntry]) -> str:
    """Write checksums.md5 and checksums.sha256 (those with lines) under `prefix`, as
    `md5sum -c` / `sha256sum -c` read them from the share's root; return the URI of the one
    to link: the MD5 list when it covers every file with a checksum, else the SHA-256 list
    (the script writes both into the download root either way)."""
    lists = render_checksum_files(entries)
    for name, text in lists.items():
        put_object(prefix + name, text.encode(), content_type="text/plain", download_name=name)
    if not lists:
        job.log("No file has a checksum: no checksum list was written.", level="WARNING")
        return ""
    with_checksum = sum(1 for e in entries if e.md5 or e.sha256)
    md5_covers_all = with_checksum == sum(1 for e in entries if e.md5)
    chosen = CHECKSUM_FILES["md5" if md5_covers_all else "sha256"]
    job.log(f"Wrote {', '.join(lists)} to {prefix} ({with_checksum} of {len(entries)} file(s)).")
    return prefix + chosen
