"""Telling people that a job ended: one task per job, queued once the job's end is committed.

The job is final before any of this runs, and nothing here writes to it: a mail server that
refuses, or a hook that never answers, is recorded on the notification's own rows and logged
(without links or secrets), and the share stays as it ended.
"""

from __future__ import annotations

import logging
from functools import partial

from django.db import transaction
from django_q.tasks import async_task

from jobs.models import Job
from notifications import emails, webhooks

logger = logging.getLogger(__name__)

TASK = "notifications.tasks.notify_job_end"


def queue_notifications(sender, job: Job, **kwargs) -> None:
    """jobs.models.job_ended's receiver: queue the job's notification task on commit, so that
    a worker never reads a job whose end is not in the database yet, and an end rolled back
    tells no one."""
    transaction.on_commit(partial(enqueue, job.pk))


def enqueue(job_id) -> None:
    try:
        async_task(TASK, str(job_id), task_name=f"notify-{job_id}")
    except Exception:  # the queue is down: the job stays as it ended, untold
        logger.exception("could not queue the notifications of job %s", job_id)


def notify_job_end(job_id: str) -> str:
    """Steps: re-read the job (one that has not ended is not told about); send the emails its
    end calls for, each once; deliver its event to the active webhooks, each once (failed
    deliveries schedule their retries). Each channel's failure is recorded, never raised."""
    job = (
        Job.objects.select_related("share_request", "created_by", "recipient")
        .filter(pk=job_id)
        .first()
    )
    if job is None or not job.is_finished:
        return "not finished"
    sent = delivered = 0
    try:
        for email in emails.emails_for(job):
            sent += emails.send_once(job, email) is not None
    except Exception:
        logger.exception("the emails of job %s failed", job_id, extra={"job_id": job_id})
    try:
        delivered = len(webhooks.deliver_job_ended(job))
    except Exception:
        logger.exception("the webhooks of job %s failed", job_id, extra={"job_id": job_id})
    return f"{sent} email(s), {delivered} webhook(s)"
