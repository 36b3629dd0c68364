"""OpenAPI schema adjustments."""

from __future__ import annotations

from typing import Any

# The two shapes every error of the API has (DRF's): a problem with the request names each
# field (`{"libraryIdList": ["..."]}`, a list field's items by position); every other refusal
# is one sentence (`{"detail": "..."}`, a 409 may add the configuration's `fingerprint`).
FIELD_ERRORS = "FieldErrors"
DETAIL = "ErrorDetail"
_MESSAGES = {"type": "array", "items": {"type": "string"}}
ERROR_COMPONENTS: dict[str, dict[str, Any]] = {
    FIELD_ERRORS: {
        "type": "object",
        "description": "What is wrong with the request, by field (query parameter or body "
        "field): each names the field and says what to send instead. A body that is not "
        "JSON is one `detail` sentence.",
        "minProperties": 1,
        "additionalProperties": {
            "anyOf": [
                _MESSAGES,
                {"type": "string"},
                {"type": "object", "additionalProperties": _MESSAGES},
            ]
        },
    },
    DETAIL: {
        "type": "object",
        "properties": {"detail": {"type": "string"}},
        "required": ["detail"],
    },
}

# status -> (when an operation answers it, the body, what it means)
_ALWAYS, _WITH_INPUT, _WITH_BODY, _FINDS = "always", "input", "body", "finds"
ERROR_RESPONSES: dict[str, tuple[str, str, str]] = {
    "400": (
        _WITH_INPUT,
        FIELD_ERRORS,
        "A query parameter or body field is wrong; the body names it and what to send.",
    ),
    "401": (_ALWAYS, DETAIL, "No API token, or an unknown one: send `Authorization: Token ...`."),
    "403": (_ALWAYS, DETAIL, "The user's groups do not allow this (viewers read, operators act)."),
    "404": (_FINDS, DETAIL, "No such object, or a page number past the last page."),
    "413": (_WITH_BODY, DETAIL, "The body is larger than API_MAX_BODY_BYTES; the detail says so."),
    "415": (_WITH_BODY, DETAIL, "The body is not JSON: send `Content-Type: application/json`."),
    "429": (_ALWAYS, DETAIL, "Too many requests from this user (API_THROTTLE_RATE)."),
}
RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds to wait before the next request",
        "required": True,
        "schema": {"type": "integer"},
    }
}


def paths_without_trailing_slash(endpoints: list[tuple]) -> list[tuple]:
    """Document paths as the API contract writes them: `/api/v1/jobs`, not `/api/v1/jobs/`.

    The router accepts both spellings; the schema shows the canonical one.
    """
    return [
        (path.rstrip("/") if path != "/" else path, regex, method, callback)
        for path, regex, method, callback in endpoints
    ]


def declare_error_responses(result: dict, generator, request, public) -> dict:
    """Every error answer the API gives, on every operation that can give it, with its body:
    a client generated from the schema (and schemathesis in tests/test_api_fuzz.py) knows
    each status it may meet. An operation's own declaration of a status wins."""
    result.setdefault("components", {}).setdefault("schemas", {}).update(ERROR_COMPONENTS)
    for path, operations in result.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status in _error_statuses(path, operation):
                if status not in responses:
                    responses[status] = _error_response(status)
    return result


def _error_statuses(path: str, operation: dict) -> list[str]:
    parameters = operation.get("parameters", [])
    has_body = "requestBody" in operation
    has_query = any(parameter["in"] == "query" for parameter in parameters)
    pages = any(parameter["name"] == "page" for parameter in parameters)
    when = {
        _ALWAYS: True,
        _WITH_INPUT: has_body or has_query,
        _WITH_BODY: has_body,
        _FINDS: "{" in path or pages,
    }
    return [status for status, (kind, _, _) in ERROR_RESPONSES.items() if when[kind]]


def _error_response(status: str) -> dict:
    _, component, description = ERROR_RESPONSES[status]
    response = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{component}"}}},
    }
    if status == "429":
        response["headers"] = RETRY_AFTER
    return response
