"""What S3 names and says, without calling it: URIs, storage classes, ETags.

No boto3 here: models, migrations and filters import this module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError

# Buckets: 3-63 lower-case letters, digits, dots and hyphens, starting and ending alphanumeric.
_BUCKET = r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"
_S3_URI = re.compile(rf"^s3://(?P<bucket>{_BUCKET})/(?P<key>.*)$", re.DOTALL)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

STORAGE_CLASSES = (
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "DEEP_ARCHIVE",
    "GLACIER_IR",
    "OUTPOSTS",
    "SNOW",
    "EXPRESS_ONEZONE",
)
# Objects in these classes cannot be read until restored.
ARCHIVED_STORAGE_CLASSES = frozenset({"GLACIER", "DEEP_ARCHIVE"})
# Objects in these classes may be unreadable: Intelligent-Tiering moves objects to its archive
# tiers on its own, which only HEAD tells (ArchiveStatus).
ARCHIVABLE_STORAGE_CLASSES = ARCHIVED_STORAGE_CLASSES | {"INTELLIGENT_TIERING"}


@dataclass(frozen=True)
class S3Uri:
    bucket: str
    key: str

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def parse_s3_uri(uri: str, *, prefix: bool = False) -> S3Uri:
    """Split `s3://bucket/key`; raise ValidationError saying what is wrong.

    With `prefix=True` the key is a folder: it may be empty and is given a trailing slash.
    """
    match = _S3_URI.match(uri or "")
    if not match:
        raise ValidationError(
            f"{uri!r} is not an S3 URI; expected s3://bucket/path with a valid bucket name.",
            code="invalid_s3_uri",
        )
    key = match["key"]
    if _CONTROL.search(key):
        raise ValidationError(f"{uri!r} contains a control character.", code="invalid_s3_uri")
    if prefix:
        if key and not key.endswith("/"):
            key += "/"
    elif not key or key.endswith("/"):
        raise ValidationError(
            f"{uri!r} names a folder, not an object; give the object's full key.",
            code="invalid_s3_uri",
        )
    return S3Uri(match["bucket"], key)


def validate_object_uri(uri: str) -> None:
    parse_s3_uri(uri)


def validate_prefix_uri(uri: str) -> None:
    parse_s3_uri(uri, prefix=True)


def bare_etag(raw: str) -> str:
    """An ETag without the double quotes S3 puts around it; the service keeps them bare."""
    return raw.strip('"')
