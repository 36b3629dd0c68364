"""The base of every expected failure of a share, recorded on its job as type, message and
details (a person can act on the message; the details name the objects)."""

from __future__ import annotations


class ShareError(Exception):
    error_type = "ShareError"

    def __init__(self, message: str, details: dict | None = None):
        super().__init__(message)
        self.details = details or {}


class SharingBucketMissing(ShareError):
    error_type = "SharingBucketMissing"
