"""The API's one request body parser: JSON, no larger than API_MAX_BODY_BYTES.

DRF reads a JSON body from the request's stream, where Django's DATA_UPLOAD_MAX_MEMORY_SIZE
does not apply: without a bound here, a client could make a worker hold any body it sends.
A body over the limit is refused with 413 before it is parsed, by its Content-Length when it
gives one, else after reading one byte more than the limit.
"""

from __future__ import annotations

import io

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.parsers import JSONParser


class BodyTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "body_too_large"

    def __init__(self, limit: int):
        super().__init__(
            f"The request body is larger than {limit} bytes (API_MAX_BODY_BYTES); send less, "
            "for example split a long id list over several launches."
        )


class BoundedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.API_MAX_BODY_BYTES
        request = (parser_context or {}).get("request")
        if request is not None and _declared_length(request.META) > limit:
            raise BodyTooLarge(limit)
        body = stream.read(limit + 1)
        if len(body) > limit:
            raise BodyTooLarge(limit)
        return super().parse(io.BytesIO(body), media_type, parser_context)


def _declared_length(meta: dict) -> int:
    try:
        return int(meta.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0
