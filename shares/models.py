"""A share's configuration, normalised once, and the dry runs that vouch for it."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from jobs.models import JobStatus


def fingerprint_of(config: dict) -> str:
    """A stable hash of a normalised configuration (which never holds the dryrun flag)."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


class ShareRequest(models.Model):
    """One normalised configuration: sorted, de-duplicated lists, canonical workflow names and
    a normalised destination. Every job of the same configuration points to the same row."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    fingerprint = models.CharField(max_length=64, unique=True)
    config = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.config.get('shareType')} {self.fingerprint[:12]}"

    @classmethod
    def for_config(cls, config: dict) -> ShareRequest:
        share_request, _ = cls.objects.get_or_create(
            fingerprint=fingerprint_of(config), defaults={"config": config}
        )
        return share_request

    def valid_dry_runs(self) -> models.QuerySet[DryRun]:
        """Dry runs that still vouch for a push of this configuration, newest first."""
        return self.dry_runs.vouching().select_related("job").order_by("-created_at")


def _oldest_vouching() -> datetime:
    """Dry runs made before this no longer vouch for a push."""
    return timezone.now() - timedelta(seconds=settings.DRYRUN_MAX_AGE_SECONDS)


class DryRunQuerySet(models.QuerySet):
    def vouching(self) -> models.QuerySet[DryRun]:
        """Dry runs that succeeded and are young enough to vouch for a push."""
        return self.filter(created_at__gte=_oldest_vouching(), job__status=JobStatus.SUCCEEDED)


class DryRun(models.Model):
    """A successful dry run of a configuration. Its job's objects are the frozen manifest that
    the push which follows will send, so what the operator saw is what is sent."""

    share_request = models.ForeignKey(
        ShareRequest, on_delete=models.CASCADE, related_name="dry_runs"
    )
    job = models.OneToOneField("jobs.Job", on_delete=models.CASCADE, related_name="dry_run_record")
    object_count = models.PositiveIntegerField()
    total_bytes = models.BigIntegerField()
    archived_count = models.PositiveIntegerField(default=0)
    # A push's destination as the dry run found it: whether it takes writes (None: not
    # checked) and, if not, why.
    destination_writable = models.BooleanField(null=True, blank=True)
    destination_note = models.CharField(max_length=500, blank=True)
    # What the share will cost (jobs.estimate), counted once when the dry run finished; None
    # for dry runs made before estimates were.
    estimate = models.JSONField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = DryRunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"dry run {self.job_id} ({self.object_count} objects)"

    @property
    def expires_at(self) -> datetime:
        return self.created_at + timedelta(seconds=settings.DRYRUN_MAX_AGE_SECONDS)

    def vouches_for_push(self) -> bool:
        """True while a push of this configuration may send this dry run's manifest."""
        return self.job.status == JobStatus.SUCCEEDED and self.created_at >= _oldest_vouching()
