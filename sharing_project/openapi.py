"""OpenAPI schema adjustments."""

from __future__ import annotations


def paths_without_trailing_slash(endpoints: list[tuple]) -> list[tuple]:
    """Document paths as the API contract writes them: `/api/v1/jobs`, not `/api/v1/jobs/`.

    The router accepts both spellings; the schema shows the canonical one.
    """
    return [
        (path.rstrip("/") if path != "/" else path, regex, method, callback)
        for path, regex, method, callback in endpoints
    ]
