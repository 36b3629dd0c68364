"""Share links: a pull share's token, every request made with it, and the receipts its
download script sends back.

A share link belongs to one pull job. Its token is never stored: it is derived from the link's
random salt with SHARE_TOKEN_SECRET (`sharelinks.tokens`), and only its SHA-256 is kept, to
find the link a request names. The link lives until `expires_at`, or until an operator revokes
it; neither can be undone (a new share is a new link).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone

from jobs.models import OUTPUT_LABELS, Job, JobObject, Output

# The files of a pull that its link serves besides the shared objects, by the job's field
# holding each one's S3 URI (a checksum list is served under the name it has).
SCRIPT_NAME = "data-download.sh"
LIMS_NAME = "lims.csv"
CHECKSUM_NAMES = ("checksums.md5", "checksums.sha256")


class LinkState(models.TextChoices):
    ACTIVE = "active", "active"
    REVOKED = "revoked", "revoked"
    EXPIRED = "expired", "expired"


class ShareLink(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    job = models.OneToOneField(Job, on_delete=models.PROTECT, related_name="share_link")
    salt = models.CharField(max_length=64, editable=False)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    # PUBLIC_BASE_URL when the link was issued: the address its script and outputs name.
    base_url = models.CharField(max_length=500)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    revoke_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [("revoke_sharelink", "Can revoke share links")]

    def __str__(self) -> str:
        return f"share link of {self.job_id} ({self.state})"

    def state_at(self, when: datetime) -> LinkState:
        if self.revoked_at is not None:
            return LinkState.REVOKED
        if self.expires_at <= when:
            return LinkState.EXPIRED
        return LinkState.ACTIVE

    @property
    def state(self) -> LinkState:
        return self.state_at(timezone.now())

    @property
    def token(self) -> str:
        """The token, derived again (sharelinks.tokens); "" when SHARE_TOKEN_SECRET changed
        since the link was issued and the token can no longer be shown."""
        from sharelinks.tokens import derive_token, token_hash

        token = derive_token(self.pk, self.salt)
        return token if token_hash(token) == self.token_hash else ""

    @property
    def url(self) -> str:
        """The link's root: {PUBLIC_BASE_URL}/s/<token>; "" when the token cannot be shown."""
        token = self.token
        return f"{self.base_url}/s/{token}" if token else ""

    def outputs(self) -> list[Output]:
        """The job's outputs as links through the service: the LIMS CSV, the script and the
        checksum list, each living as long as the share."""
        root = self.url
        files = {
            "limsCsv": self.job.lims_csv_uri,
            "dataDownloadScript": self.job.download_script_uri,
            "checksums": self.job.checksums_uri,
        }
        return [
            Output(
                name, OUTPUT_LABELS[name], f"{root}/{uri.rsplit('/', 1)[-1]}", uri, self.expires_at
            )
            for name, uri in files.items()
            if uri and root
        ]

    def revoked_message(self) -> str:
        return (
            f"This share was revoked by the data custodian on "
            f"{self.revoked_at:%Y-%m-%d %H:%M} UTC: contact {settings.DATA_CUSTODIAN_CONTACT}."
        )

    def expired_message(self) -> str:
        return (
            f"This share expired on {self.expires_at:%Y-%m-%d %H:%M} UTC: ask the data custodian "
            f"({settings.DATA_CUSTODIAN_CONTACT}) for a new share."
        )


class Via(models.TextChoices):
    DOWNLOAD = "download", "download link"
    DRS = "drs", "GA4GH DRS"


class ShareAccess(models.Model):
    """One request made with a share link's token (or with a token that matches none: `share`
    is then empty), allowed or not: the proof of what was fetched, by whom and when."""

    share = models.ForeignKey(
        ShareLink, on_delete=models.PROTECT, null=True, blank=True, related_name="accesses"
    )
    job_object = models.ForeignKey(
        JobObject, on_delete=models.PROTECT, null=True, blank=True, related_name="accesses"
    )
    resource = models.CharField(max_length=200)  # "files/12", "lims.csv", "drs/objects/..."
    via = models.CharField(max_length=16, choices=Via.choices)
    at = models.DateTimeField(default=timezone.now, db_index=True)
    client_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    allowed = models.BooleanField()
    status = models.PositiveSmallIntegerField()
    # The bytes the request asked for, when known: the whole object, or what a range left.
    bytes = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["at", "id"]
        verbose_name_plural = "share accesses"
        indexes = [
            models.Index(fields=["share", "at"]),
            models.Index(fields=["job_object", "allowed"]),
        ]

    def __str__(self) -> str:
        return f"{self.resource} {self.status} at {self.at:%Y-%m-%d %H:%M:%S}"


class Receipt(models.Model):
    """What a download script reported at its end: its verified summary."""

    share = models.ForeignKey(ShareLink, on_delete=models.PROTECT, related_name="receipts")
    received_at = models.DateTimeField(default=timezone.now)
    files_total = models.PositiveIntegerField()
    files_ok = models.PositiveIntegerField()  # downloaded or already there, verified
    files_verified = models.PositiveIntegerField()  # of those, checked by their checksum
    files_failed = models.PositiveIntegerField()
    files_skipped = models.PositiveIntegerField()  # kept unchecked (--skip-existing...)
    bytes = models.BigIntegerField()
    client_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return self.summary()

    def summary(self) -> str:
        return (
            f"received: {self.files_ok} of {self.files_total} files verified by the "
            f"collaborator at {self.received_at:%Y-%m-%d %H:%M} UTC"
        )
