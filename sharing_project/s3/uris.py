"""What S3 names and says, without calling it: URIs, storage classes, ETags.

No boto3 here: models, migrations and filters import this module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator

# Buckets: 3-63 lower-case letters, digits, dots and hyphens, starting and ending alphanumeric.
_BUCKET = r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"
_S3_URI = re.compile(rf"^s3://(?P<bucket>{_BUCKET})/(?P<key>.*)$", re.DOTALL)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MD5 = re.compile(r"^[0-9a-f]{32}$")

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


# An ETag is the MD5 of the bytes (32 hex) when the object was written in one request, and
# `<hex>-<number of parts>` when it was written in parts (or copied in parts): not an MD5.
validate_etag = RegexValidator(
    r"^[0-9a-f]{32}(?:-\d+)?$", "Enter an S3 ETag (32 hex, optionally -parts)."
)
validate_md5 = RegexValidator(r"^[0-9a-f]{32}\Z", "Enter an MD5: 32 lower-case hex digits.")
validate_sha256 = RegexValidator(r"^[0-9a-f]{64}\Z", "Enter a SHA-256: 64 lower-case hex digits.")


def bare_etag(raw: str) -> str:
    """An ETag without the double quotes S3 puts around it; the service keeps them bare."""
    return raw.strip('"')


def is_multipart_etag(etag: str) -> bool:
    """True for the ETag of an object written in parts, which is not the MD5 of its bytes."""
    return "-" in etag


def etag_md5(etag: str) -> str:
    """The MD5 of the object's bytes that its ETag gives: the ETag itself when it is 32 hex
    digits (written in one request), "" otherwise."""
    return etag if _MD5.match(etag) else ""


def single_part_etags(*etags: str) -> bool:
    """True when every ETag is a single-part one, the MD5 of the bytes: only then do equal
    ETags mean equal bytes (a copy in parts gets an ETag of its own)."""
    return not any(is_multipart_etag(etag) for etag in etags)
