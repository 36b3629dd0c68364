"""Errors a job or a launch can end with, each with the HTTP status or error type it carries."""

from __future__ import annotations


class LaunchRefused(Exception):
    """A launch that passed validation but cannot go ahead; nothing was queued."""

    status_code = 400

    def __init__(self, message: str, **extra):
        super().__init__(message)
        self.message = message
        self.extra = extra


class DryRunRequired(LaunchRefused):
    status_code = 409


class JobAlreadyFinished(LaunchRefused):
    status_code = 409


class LinksUnavailable(LaunchRefused):
    status_code = 409


class JobAborted(Exception):
    """Raised inside a job's work when an abort was requested; the runner ends it ABORTED."""
