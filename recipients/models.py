"""Recipients: the collaborators shares go to, and where they may receive pushes."""

from __future__ import annotations

import uuid

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator, validate_email
from django.db import models
from django.utils import timezone

from shares.destinations import Destination, parse_destination, parse_destination_prefix

validate_recipient_id = RegexValidator(
    r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?\Z",
    "A recipient id is 1 to 64 lower-case letters, digits and hyphens, such as garvan-ccg.",
)


def _validate_emails(values) -> None:
    if not isinstance(values, list):
        raise ValidationError("Give a list of email addresses.")
    for value in values:
        try:
            validate_email(value)
        except ValidationError:
            raise ValidationError(f"{value!r} is not an email address.") from None


def _validate_prefixes(values) -> None:
    if not isinstance(values, list):
        raise ValidationError("Give a list of s3:// or icav2:// prefixes.")
    for value in values:
        parse_destination_prefix(value)


# What operators edit in the console, and what the audit trail tracks of a recipient's changes
# (not the timestamps, nor reverse relations such as its jobs).
EDITABLE_FIELDS = [
    "recipient_id",
    "name",
    "organisation",
    "contact_emails",
    "allowed_destinations",
    "notify_contacts",
    "notes",
    "active",
]


class RecipientQuerySet(models.QuerySet):
    def active(self) -> RecipientQuerySet:
        return self.filter(active=True)


class Recipient(models.Model):
    """A collaborator who receives shares: who to tell, and where pushes to them may go.

    `recipient_id` is what a share names (`recipientId`); it is fixed once saved, so that every
    configuration naming it keeps meaning the same collaborator."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    recipient_id = models.CharField(
        "recipient id", max_length=64, unique=True, validators=[validate_recipient_id]
    )
    name = models.CharField(max_length=200)
    organisation = models.CharField(max_length=200, blank=True)
    contact_emails = models.JSONField(
        default=list, blank=True, validators=[_validate_emails], help_text="One per line."
    )
    allowed_destinations = models.JSONField(
        default=list,
        blank=True,
        validators=[_validate_prefixes],
        help_text="Pushes to this recipient may only go under these prefixes (one per line: "
        "s3://bucket/prefix/ or icav2://project/path/). None: no push to this recipient.",
    )
    notes = models.TextField(blank=True)
    notify_contacts = models.BooleanField(
        "tell the contacts when a share to them ends",
        default=False,
        help_text="A pull's contacts get its two links and how to run the script; a push's "
        "get where the data is.",
    )
    active = models.BooleanField(
        default=True, help_text="Inactive recipients cannot be named by a new share."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = RecipientQuerySet.as_manager()

    class Meta:
        ordering = ["recipient_id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.recipient_id})"

    def save(self, *args, **kwargs) -> None:
        self.allowed_destinations = [
            str(parse_destination_prefix(value)) for value in self.allowed_destinations
        ]
        super().save(*args, **kwargs)

    @property
    def allowed_prefixes(self) -> list[Destination]:
        return [parse_destination_prefix(value) for value in self.allowed_destinations]

    def may_receive_at(self, destination: str) -> bool:
        """True when a push to this destination lies under one of the allowed prefixes."""
        target = parse_destination(destination)
        return any(target.within(prefix) for prefix in self.allowed_prefixes)
