"""django-q2 task functions: thin, they take ids and call the runner."""

from __future__ import annotations

from jobs.runner import run_job as _run_job


def run_job(job_id: str) -> str:
    return _run_job(job_id)
