"""The one runner every job goes through: mark running, do the work, record how it ended."""

from __future__ import annotations

import logging
from collections.abc import Callable

from jobs.models import Job
from sharing_project.errors import JobAborted, ShareError

logger = logging.getLogger(__name__)

# An executor returns None when the job's work is done, or CONTINUES when other tasks
# (a push's batches) carry it on and will finish it.
CONTINUES = "continues"
Executor = Callable[[Job], str | None]


def run_job(job_id: str, executors: dict[tuple[str, bool], Executor]) -> str:
    """Run one job to its end with the executor for its (share type, dry run); safe to call
    twice (a finished or taken job is left alone)."""
    job = Job.objects.select_related("share_request").filter(pk=job_id).first()
    if job is None:
        logger.warning("job %s no longer exists", job_id)
        return "MISSING"
    if not job.mark_running():
        return job.status
    return execute(job, executors[(job.share_type, job.dryrun)])


def execute(job: Job, work: Executor) -> str:
    """Do `work` for a RUNNING job and record how it ended: succeeded (or aborted, if that
    was asked), failed with the error's type, message and details, or still under way."""
    try:
        outcome = work(job)
    except JobAborted:
        job.mark_aborted()
        job.log("Aborted.")
    except ShareError as error:
        job.mark_failed(error.error_type, str(error), error.details)
        job.log(f"Failed: {error}", level="ERROR")
    except Exception as error:
        logger.exception("job %s failed", job.pk)
        job.mark_failed(type(error).__name__, str(error)[:4000])
        job.log(f"Failed: {type(error).__name__}: {error}", level="ERROR")
    else:
        if outcome == CONTINUES:
            return job.status
        if job.abort_was_requested():
            if job.mark_aborted():
                job.log("Aborted after its last step.")
        elif job.mark_succeeded():
            job.log("Succeeded.")
    job.refresh_from_db()
    if job.is_finished:
        job.object_summary()  # counted here, once, not by the first request that shows it
    return job.status


def stop_if_aborted(job: Job) -> None:
    """Called between steps of long work."""
    if job.abort_was_requested():
        raise JobAborted
