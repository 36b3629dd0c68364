"""LOG_FORMAT=json: one JSON object a line, a line per request and per job event with its
job_id, and never a presigned link's signature, a token or the secret key.

The service's own logging configuration (settings.LOGGING, switched to the json formatter) is
installed with its real handler writing to a buffer, and a real pull runs through it.
"""

from __future__ import annotations

import io
import json
import logging
import logging.config

import pytest
from django.conf import settings
from django.test import Client

from ops.logs import REDACTED, PlainFormatter, redact


@pytest.fixture
def json_log():
    """The console handler of settings.LOGGING with LOG_FORMAT=json, into a buffer; the
    parsed lines are read with `lines()`."""
    config = json.loads(json.dumps(settings.LOGGING))  # a copy to change
    config["handlers"]["console"]["formatter"] = "json"
    config["root"]["level"] = "INFO"
    config["loggers"]["django-q"] = {"level": "INFO"}
    logging.config.dictConfig(config)
    buffer = io.StringIO()
    [handler] = [h for h in logging.getLogger().handlers if h.name == "console"]
    handler.setStream(buffer)

    def lines() -> list[dict]:
        raw = buffer.getvalue().splitlines()
        assert raw, "nothing was logged"
        return [json.loads(line) for line in raw]  # each line is one JSON object

    yield lines, buffer
    logging.config.dictConfig(settings.LOGGING)


def test_requests_and_job_events_are_json_lines_without_links_tokens_or_secrets(
    json_log, pull, operator
):
    lines, buffer = json_log
    job, _, _ = pull(libraryIdList=["L2400003"], dataTypeList=["Fastq"])
    signed_links = [output["url"] for output in job["outputs"].values()]
    assert all("X-Amz-Signature=" in link for link in signed_links)
    token = operator.auth_token.key
    # A signature in the query string (a link pasted into a request) and a token in the header.
    Client().get(
        f"/api/v1/jobs/{job['id']}?X-Amz-Signature=deadbeef{token}&token={token}",
        HTTP_AUTHORIZATION=f"Token {token}",
    )
    Client().get(f"/no-such-page?X-Amz-Signature=cafe{token}")  # Django's own 404 line

    text = buffer.getvalue()
    for secret in (token, settings.SECRET_KEY, "X-Amz-Signature", *signed_links):
        assert secret not in text
    logged = lines()
    requests = [line for line in logged if line["logger"] == "ops.requests"]
    assert {
        "method": "GET",
        "path": f"/api/v1/jobs/{job['id']}",
        "status": 200,
        "user_id": operator.pk,
    }.items() <= requests[-2].items()
    assert requests[-1]["path"] == "/no-such-page"
    assert requests[-1]["status"] == 404
    assert all(isinstance(line["duration_ms"], float) for line in requests)
    events = [line for line in logged if line.get("job_id") == job["id"]]
    assert {"logger": "jobs.events", "status": "RUNNING"}.items() <= events[1].items()
    assert events[-1]["message"] == f"job {job['id']}: Succeeded."
    assert all({"timestamp", "level", "message"} <= line.keys() for line in logged)


def test_a_line_that_carries_a_presigned_link_or_a_token_is_redacted(json_log):
    lines, buffer = json_log
    link = (
        "https://bucket.s3.amazonaws.com/key?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=AKIAEXAMPLE%2F20260101%2Fus-east-1%2Fs3%2Faws4_request"
        "&X-Amz-Signature=0123456789abcdef&X-Amz-Security-Token=FwoGZXIvYXdzEXAMPLE"
    )
    logging.getLogger("jobs.events").warning("could not fetch %s", link)
    logging.getLogger("ops").info("header was Token 9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b")
    try:
        raise RuntimeError(f"failed on {link}")
    except RuntimeError:
        logging.getLogger("ops").exception("in a traceback too")
    text = buffer.getvalue()
    for secret in ("AKIAEXAMPLE", "0123456789abcdef", "FwoGZXIvYXdzEXAMPLE", "9944b09199c62bcf"):
        assert secret not in text
    first, second, third = lines()
    assert first["message"].startswith("could not fetch https://bucket.s3.amazonaws.com/key?")
    assert f"X-Amz-Signature={REDACTED}" in first["message"]
    assert second["message"] == f"header was Token {REDACTED}"
    assert "RuntimeError: failed on" in third["exc_info"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("?X-Amz-Signature=abc&b=1", f"?X-Amz-Signature={REDACTED}&b=1"),
        ('"url": "x?Signature=abc"', f'"url": "x?Signature={REDACTED}"'),
        ("Authorization: Bearer abcdefgh12345678", f"Authorization: Bearer {REDACTED}"),
        ("Token expired", "Token expired"),  # a word, not a token: too short to be one
        ("GET /api/v1/jobs 200", "GET /api/v1/jobs 200"),
    ],
)
def test_redact_replaces_only_secrets(text, expected):
    assert redact(text) == expected


def test_plain_lines_are_redacted_too():
    record = logging.LogRecord(
        "jobs.events", logging.INFO, __file__, 1, "link %s", ("x?X-Amz-Signature=abc",), None
    )
    assert PlainFormatter().format(record).endswith(f"link x?X-Amz-Signature={REDACTED}")
