"""Launching and aborting jobs: the functions the API, the admin and the commands all call."""

from __future__ import annotations

import logging
from functools import partial

from django.db import transaction
from django_q.tasks import async_task

from audit.models import AuditAction
from audit.services import record, record_launch
from jobs.models import Job, JobStatus, ShareType
from recipients.models import Recipient
from shares.models import DryRun, ShareRequest, fingerprint_of
from sharing_project.errors import (
    DryRunRequired,
    JobAlreadyFinished,
    LinksUnavailable,
    NothingNewToShare,
)

logger = logging.getLogger(__name__)


def launch_job(config: dict, *, dryrun: bool, user, reviewed: Job | None = None) -> Job:
    """Save a job for a validated, normalised configuration and queue it once committed.

    Steps: for a push that is not a dry run, require a successful dry run young enough (409
    otherwise): `reviewed`, the dry run the operator looked at, when given, else the newest;
    refuse (409) one that found nothing new for an incremental share (`refuse_if_nothing_new`);
    then, in one transaction, find or create the share request (by fingerprint) and save the
    job (a push with its dry run's totals: its worker copies the dry run's objects into it,
    jobs.push.take_manifest, so a launch costs the same whatever the dry run's size); enqueue
    it on commit, so a worker never sees a job that is not in the database. A refused launch
    writes nothing.
    """
    fingerprint = fingerprint_of(config)
    known = ShareRequest.objects.filter(fingerprint=fingerprint).first()
    source_dry_run = None
    if config["shareType"] == ShareType.PUSH and not dryrun:
        valid = known.valid_dry_runs() if known else DryRun.objects.none()
        source_dry_run = (valid if reviewed is None else valid.filter(job=reviewed)).first()
        if source_dry_run is None and reviewed is not None:
            raise DryRunRequired(
                f"Dry run {reviewed.pk} cannot vouch for this push: it did not succeed or is "
                f"older than {dry_run_age()}. Run the dry run again, check its objects, then "
                "launch.",
                fingerprint=fingerprint,
            )
        if source_dry_run is None:
            raise DryRunRequired(
                "This push has no successful dry run of the same configuration in the last "
                f'{dry_run_age()}; launch it with "dryrun": true, check the objects it lists, then '
                "launch it again without dryrun.",
                fingerprint=fingerprint,
            )
        refuse_if_nothing_new(source_dry_run.job, fingerprint)
    with transaction.atomic():
        job = Job.objects.create(
            share_request=known or ShareRequest.for_config(config),
            share_type=config["shareType"],
            dryrun=dryrun,
            destination=config.get("shareDestination", ""),
            source_dry_run=source_dry_run,
            created_by=user,
            recipient=recipient_of(config),
            objects_total=source_dry_run.object_count if source_dry_run else 0,
            bytes_total=source_dry_run.total_bytes if source_dry_run else 0,
            left_out=source_dry_run.job.left_out if source_dry_run else None,
        )
        job.log(f"Launched by {user.get_username()}.")
        if source_dry_run is not None:
            count = source_dry_run.object_count
            job.log(f"Sends the {count} object(s) of dry run {source_dry_run.job_id}.")
            left_out = job.left_out_summary()
            if left_out is not None and left_out.objects:
                job.log(
                    f"Its dry run left out {left_out.objects} object(s), {left_out.bytes} "
                    f"bytes, that {left_out.recipient_id} has received already."
                )
        record_launch(job, config, user)
        transaction.on_commit(partial(enqueue_job, job.pk))
    return job


def refuse_if_nothing_new(dry_run: Job, fingerprint: str) -> None:
    """An incremental dry run that left out every object vouches for no push: it would send
    nothing (and write an empty lims.csv over the last one at the destination)."""
    if dry_run.found_nothing_new:
        left_out = dry_run.left_out_summary()
        raise NothingNewToShare(
            f"Nothing new to share: dry run {dry_run.pk} found that {left_out.recipient_id} has "
            f"received all {left_out.objects} object(s) of this selection already; there is "
            "nothing to push. Widen the selection, or leave out onlyNewSinceLastShare to send "
            "them again.",
            fingerprint=fingerprint,
        )


def recipient_of(config: dict) -> Recipient | None:
    recipient_id = config.get("recipientId")
    return Recipient.objects.get(recipient_id=recipient_id) if recipient_id else None


def enqueue_job(job_id) -> None:
    """Hand the job to django-q2 and record the queue's task id; a queue failure fails the job."""
    try:
        task_id = async_task("jobs.tasks.run_job", str(job_id), task_name=f"job-{job_id}")
    except Exception as error:
        logger.exception("could not queue job %s", job_id)
        Job.objects.get(pk=job_id).mark_failed("QueueError", f"Could not queue the job: {error}")
        return
    Job.objects.filter(pk=job_id).update(task_id=str(task_id))


def rerun_job(job: Job, user) -> Job:
    """A new job of the same configuration and kind (the dry-run gate applies to a push)."""
    rerun = launch_job(job.config, dryrun=job.dryrun, user=user)
    rerun.log(f"Re-run of job {job.pk}.")
    record(AuditAction.RERUN, job=job, user=user, rerunJobId=str(rerun.pk))
    return rerun


def request_new_links(job: Job, user) -> Job:
    """Queue fresh presigned links, a new script and LIMS CSV for a pull that succeeded."""
    if job.found_nothing_new:
        raise LinksUnavailable(
            "This pull found nothing new to share and made no links: there are none to renew."
        )
    if job.has_links and job.issued_share_link is not None:
        raise LinksUnavailable(
            "This pull has a share link, which stays valid until it expires or is revoked: it "
            "needs no new links. Revoke it and launch the share again to replace it."
        )
    if not job.links_renewable:
        raise LinksUnavailable(
            "New links are made only for a pull (not a dry run) that succeeded; this job is a "
            f"{job.share_type}{' dry run' if job.dryrun else ''} that is {job.status}."
        )
    job.log(f"New links requested by {user.get_username()}.")
    record(AuditAction.LINKS_REQUESTED, job=job, user=user)
    transaction.on_commit(
        partial(async_task, "jobs.tasks.renew_links", str(job.pk), task_name=f"links-{job.pk}")
    )
    return job


def abort_job(job: Job, user) -> Job:
    """Stop a job: at once if no worker has it yet, otherwise at its next step."""
    if job.is_finished:
        raise JobAlreadyFinished(f"The job already ended {job.status}; there is nothing to abort.")
    record(AuditAction.ABORT_REQUESTED, job=job, user=user)
    if job.abort_if_pending():
        job.log(f"Aborted by {user.get_username()} before it started.")
    elif job.request_abort():
        job.log(f"Abort requested by {user.get_username()}; stopping after the current step.")
    job.refresh_from_db()
    if job.status in (JobStatus.SUCCEEDED, JobStatus.FAILED):
        raise JobAlreadyFinished(f"The job already ended {job.status}; there is nothing to abort.")
    return job


def dry_run_age() -> str:
    """How long a dry run vouches for a push, for messages."""
    from django.conf import settings

    seconds = settings.DRYRUN_MAX_AGE_SECONDS
    if seconds % 86400 == 0:
        return f"{seconds // 86400} day(s)"
    return f"{seconds} seconds"
