"""django-q2 task functions: thin, they take ids and call the service functions."""

from __future__ import annotations

from jobs import pull, push
from jobs.runner import run_job as _run_job


def run_job(job_id: str) -> str:
    return _run_job(job_id)


def push_batch(job_id: str, first: int, last: int) -> str:
    return push.push_batch(job_id, first, last)


def sweep() -> int:
    """Scheduled every minute: resume pushes whose worker died."""
    return push.sweep()


def renew_links(job_id: str) -> str:
    return pull.renew_links_task(job_id)
