"""django-q2 task functions: thin, they take ids and call the service functions."""

from __future__ import annotations

import gc

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
    """Scheduled every minute: resume pushes whose worker died."""
    return push.sweep()


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
