"""django-q2 task functions: thin, they take ids and call the service functions."""

from __future__ import annotations

import gc

from jobs import pull, push
from jobs.runner import run_job as _run_job

_frozen = False


def run_job(job_id: str) -> str:
    try:
        return _run_job(job_id)
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
