"""Logs for machines: the formatters (plain, or one JSON object a line with LOG_FORMAT=json),
the line each request leaves, and the redaction every line passes through.

What is logged: a request's method, path (never its query string: a presigned link's signature
or a token can travel there), status, duration and user id; a job's events with its `job_id`
(jobs.models.Job.log). What no line may carry, whatever a message says: a presigned link's
signature and credential, a session token, a bearer or API token, a share link's token.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject, empty
from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

request_logger = logging.getLogger("ops.requests")

FORMATS = ("plain", "json")
PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"

# Query parameters of a presigned S3 link that would let a reader use it, and tokens after
# the words that introduce them. The value ends where a URL, a header or a JSON string would.
_SECRET_PATTERNS = (
    re.compile(r"(?i)(X-Amz-(?:Signature|Credential|Security-Token)=)[^&\s\"'\\]+"),
    re.compile(r"(?i)((?:Signature|AWSAccessKeyId|x-amz-security-token)=)[^&\s\"'\\]+"),
    re.compile(r"(?i)\b((?:Token|Bearer)\s+)[A-Za-z0-9._~+/=-]{8,}"),
    # A share link's token is its path's second segment (sharelinks/urls.py): a path is logged.
    re.compile(r"(/s/)[^/\s\"'?#]+"),
)
REDACTED = "[redacted]"


def redact(text: str) -> str:
    """`text` with the secrets a URL or a header could carry replaced by [redacted]."""
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(rf"\g<1>{REDACTED}", text)
    return text


class PlainFormatter(logging.Formatter):
    """The default: one readable line, redacted."""

    def __init__(self, fmt: str = PLAIN_FORMAT, **kwargs) -> None:
        super().__init__(fmt, **kwargs)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class RedactedFormatter(logging.Formatter):
    """Another formatter's lines, redacted: gunicorn's own (its access log's request line
    carries the path, and so a share link's token), in the format gunicorn gives them."""

    def __init__(self, inner: logging.Formatter | None = None) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        return redact(self.inner.format(record))


class JsonFormatter(_JsonFormatter):
    """One JSON object a line: timestamp, level, logger, message and the record's extra fields
    (job_id, path, status...), redacted.

    Django's own request loggers attach the request object, whose text is its full path with
    the query string: it is left out, as are the record's other internals."""

    def __init__(self, **kwargs) -> None:
        super().__init__(
            "%(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp=True,
            reserved_attrs=[*RESERVED_ATTRS, "request", "server_time"],
            **kwargs,
        )

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def _user_id(request: HttpRequest) -> int | None:
    """The user the request was served for, if something already looked them up (the admin,
    the API's authentication): never a database query of its own, so /healthz stays off the
    database."""
    user = getattr(request, "user", None)
    if isinstance(user, SimpleLazyObject) and user._wrapped is empty:
        return None
    if user is None or not user.is_authenticated:
        return None
    return user.pk


class RequestLogMiddleware:
    """One line per request: method, path (without the query string), status, duration, user."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        duration_ms = round((time.perf_counter() - started) * 1000, 1)
        fields = {
            "method": request.method,
            "path": request.path,
            "status": response.status_code,
            "duration_ms": duration_ms,
            "user_id": _user_id(request),
        }
        request_logger.info(
            "%s %s %s %.1f ms",
            request.method,
            request.path,
            response.status_code,
            duration_ms,
            extra=fields,
        )
        return response
