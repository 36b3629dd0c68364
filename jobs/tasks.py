"""django-q2 task functions: thin, they take ids and call the service functions."""

from __future__ import annotations

import gc
import logging

from django.utils import timezone
from django_q.conf import Conf
from django_q.models import Schedule
from django_q.tasks import async_task

from jobs import dryrun, pull, push, runner
from shares.contract import ShareType

# (share type, dry run) -> the function that does that work
EXECUTORS: dict[tuple[str, bool], runner.Executor] = {
    (ShareType.PUSH, True): dryrun.execute_dry_run,
    (ShareType.PULL, True): dryrun.execute_dry_run,
    (ShareType.PULL, False): pull.execute_pull,
    (ShareType.PUSH, False): push.execute_push,
}
_frozen = False
logger = logging.getLogger(__name__)


def run_job(job_id: str) -> str:
    try:
        return runner.run_job(job_id, EXECUTORS)
    finally:
        _freeze_long_lived_objects()


def push_batch(job_id: str, first: int, last: int) -> str:
    try:
        return push.push_batch(job_id, first, last)
    finally:
        _freeze_long_lived_objects()


def sweep() -> int:
    """Scheduled: resume pushes whose worker died. django-q2's schedules step by whole
    minutes, but its scheduler looks every 30 s in each cluster: the sweep makes itself due
    again at once, so that it runs at every look (a stalled push waits 30 s at most)."""
    Schedule.objects.filter(func="jobs.tasks.sweep").update(next_run=timezone.now())
    return push.sweep()


def sweep_at_start(**kwargs) -> None:
    """Every worker process, as it starts (django-q2's post_spawn): queue a sweep. A cluster
    starting is often one restarted after a crash, whose pushes are waiting to be resumed.
    Not in sync mode, where django-q2 runs each task through a worker of its own, in place."""
    if Conf.SYNC:
        return
    try:
        async_task("jobs.tasks.sweep", task_name="sweep-at-start")
    except Exception:  # the database is not there yet: the schedule sweeps later
        logger.warning("could not queue a sweep at start", exc_info=True)


def renew_links(job_id: str) -> str:
    return pull.renew_links_task(job_id)


def _freeze_long_lived_objects() -> None:
    """Once per worker process, after its first job task (whose outcome is recorded by then):
    collect, then move every object still alive (Django, botocore's service models, the
    shared S3 client) out of the garbage collector's reach. They live as long as the
    process, yet each full collection went through all of them, about 80 ms during which no
    thread of the worker (no copy) could run; afterwards it goes through newer objects only."""
    global _frozen
    if not _frozen:
        _frozen = True
        gc.collect()
        gc.freeze()
