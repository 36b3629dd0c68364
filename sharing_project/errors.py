"""The service's error types, in one place.

- A launch that cannot go ahead (`LaunchRefused` and its kinds) carries the HTTP status the API
  answers with; nothing was queued.
- A share that fails (`ShareError` and its kinds) is recorded on its job as type, message and
  details: a person can act on the message, the details name the objects. `error_type` is the
  type the API shows; clients and tests rely on these strings.
- The rest are raised and caught inside the service (an abort, a short streamed copy, a rejected
  catalogue file).

This module imports nothing of the service, so that any module may import it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# --- launches ---------------------------------------------------------------------------------


class LaunchRefused(Exception):
    """A launch that passed validation but cannot go ahead; nothing was queued."""

    status_code = 400

    def __init__(self, message: str, **extra):
        super().__init__(message)
        self.message = message
        self.extra = extra


class DryRunRequired(LaunchRefused):
    status_code = 409


class NothingNewToShare(LaunchRefused):
    """An incremental push whose dry run left out every object: the recipient has them all."""

    status_code = 409


class JobAlreadyFinished(LaunchRefused):
    status_code = 409


class LinksUnavailable(LaunchRefused):
    status_code = 409


# --- shares: what a job ends FAILED with ------------------------------------------------------


class ShareError(Exception):
    error_type = "ShareError"

    def __init__(self, message: str, details: dict | None = None):
        super().__init__(message)
        self.details = details or {}


class SharingBucketMissing(ShareError):
    error_type = "SharingBucketMissing"


class ResolutionError(ShareError):
    """The configuration cannot be shared as it stands; `details` names what is wrong."""

    error_type = "ResolutionError"


class UnsafeObjectKey(ResolutionError):
    error_type = "UnsafeObjectKey"


class MissingSourceObjects(ResolutionError):
    error_type = "MissingSourceObjects"


class DuplicateRelativePath(ResolutionError):
    error_type = "DuplicateRelativePath"


class ArchivedDataError(ResolutionError):
    error_type = "ArchivedDataError"


class DataDefrostingError(ResolutionError):
    error_type = "DataDefrostingError"


class DestinationNotWritable(ShareError):
    error_type = "DestinationNotWritable"


class CopyFailed(ShareError):
    error_type = "CopyFailed"


class Icav2Error(ShareError):
    """ICAv2 refused or failed a call; the message names the status, the endpoint, ICAv2's
    problem detail and what to check."""

    error_type = "Icav2Error"

    def __init__(self, message: str, details: dict | None = None, *, status: int | None = None):
        super().__init__(message, details)
        self.status = status


# --- inside the service -----------------------------------------------------------------------


class JobAborted(Exception):
    """Raised inside a job's work when an abort was requested; the runner ends it ABORTED."""


class IncompleteCopy(RuntimeError):
    """The object written is not the size of the object read."""


@dataclass
class ImportRejected(Exception):
    """A catalogue file that was not imported, with every problem found in it."""

    path: str
    problems: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        listed = "\n".join(f"  {self.path}: {p}" for p in self.problems)
        return f"{self.path}: nothing imported, {len(self.problems)} problem(s):\n{listed}"
