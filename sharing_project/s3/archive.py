"""Archived objects: whether one can be read now, and asking S3 to restore it."""

from __future__ import annotations

from botocore.exceptions import ClientError

from sharing_project.s3.client import client
from sharing_project.s3.objects import error_code
from sharing_project.s3.uris import ARCHIVED_STORAGE_CLASSES, parse_s3_uri

READABLE = "readable"
ARCHIVED = "archived"
RESTORING = "restoring"
GONE = "gone"
_GONE_CODES = ("404", "NoSuchKey", "NotFound")


def archive_state(uri: str) -> str:
    """READABLE, ARCHIVED (not restored, no restore under way) or RESTORING."""
    target = parse_s3_uri(uri)
    response = client().head_object(Bucket=target.bucket, Key=target.key)
    restore = response.get("Restore", "")
    if 'ongoing-request="true"' in restore:
        return RESTORING
    if response.get("ArchiveStatus"):  # Intelligent-Tiering archive access tiers
        return ARCHIVED
    if response.get("StorageClass", "STANDARD") not in ARCHIVED_STORAGE_CLASSES:
        return READABLE
    # A finished restore says ongoing-request="false" and leaves a readable copy.
    return READABLE if 'ongoing-request="false"' in restore else ARCHIVED


def availability(uri: str) -> str:
    """READABLE, ARCHIVED or RESTORING (archive_state), or GONE when there is no such object."""
    try:
        return archive_state(uri)
    except ClientError as error:
        if error_code(error) in _GONE_CODES:
            return GONE
        raise


def is_archived(uri: str) -> bool:
    """True when the object cannot be read now: archived and not (yet) restored."""
    return archive_state(uri) != READABLE


def request_restore(uri: str, *, days: int, tier: str) -> str:
    """Ask S3 to restore an archived object; RESTORING whether asked now or already asked."""
    target = parse_s3_uri(uri)
    try:
        client().restore_object(
            Bucket=target.bucket,
            Key=target.key,
            RestoreRequest={"Days": days, "GlacierJobParameters": {"Tier": tier}},
        )
    except ClientError as error:
        if error_code(error) != "RestoreAlreadyInProgress":
            raise
    return RESTORING
