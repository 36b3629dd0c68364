"""Events as CSV or JSON, a row at a time: an export of any size is streamed, never held whole.

The API's export and `manage.py audit_report` both write through these functions; so does a
share link's access log (`GET /api/v1/jobs/{id}/access-log/export`), with its own rows and
columns: `StreamedExport` is the viewsets' side (the ?format= parameter, the response, the
schema).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from typing import Any

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.serializers import Serializer

from audit.models import AuditEvent
from audit.serializers import COLUMNS, AuditEventSerializer

FORMATS = ("csv", "json")
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json"}
CHUNK = 1000


def in_time_order(events: QuerySet[AuditEvent]) -> QuerySet[AuditEvent]:
    """A report reads oldest first (the API's list shows the newest first)."""
    return events.select_related("actor", "recipient").order_by("at", "id")


def event_rows(events: QuerySet[AuditEvent]) -> Iterator[dict[str, Any]]:
    """Each event as the API shows it, oldest first, read from the database in chunks."""
    serializer = AuditEventSerializer()
    for event in in_time_order(events).iterator(chunk_size=CHUNK):
        yield serializer.to_representation(event)


class _Line:
    """A file-like object that hands back what csv.writer writes."""

    def write(self, text: str) -> str:
        return text


def csv_lines(
    rows: Iterable[dict[str, Any]],
    columns: Iterable[str] = COLUMNS,
    json_columns: Iterable[str] = ("details",),
) -> Iterator[str]:
    """A header, then a line per row; the `json_columns` (an event's details) as JSON text."""
    writer = csv.writer(_Line())
    columns, as_json = list(columns), set(json_columns)
    yield writer.writerow(columns)
    for row in rows:
        yield writer.writerow(
            [json.dumps(row[name]) if name in as_json else row[name] for name in columns]
        )


def json_lines(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    """One JSON array, a row a line."""
    yield "["
    separator = "\n"
    for row in rows:
        yield separator + json.dumps(row, ensure_ascii=False)
        separator = ",\n"
    yield "\n]\n"


def export_lines(events: QuerySet[AuditEvent], format: str) -> Iterator[str]:
    rows = event_rows(events)
    return csv_lines(rows) if format == "csv" else json_lines(rows)


# --- the API's side: ?format=, the streamed response, its schema ----------------------------


def chosen_format(request: Request) -> str:
    """?format=csv or json; anything else is a 400 naming the parameter."""
    format = request.query_params.get("format")
    if format not in FORMATS:
        given = "Required" if format is None else f"{format!r} is not a format"
        raise ValidationError({"format": [f"{given}: give csv or json."]})
    return format


def streamed(lines: Iterator[str], format: str, filename: str) -> StreamingHttpResponse:
    """The lines as a download named `filename`.csv or .json."""
    response = StreamingHttpResponse(lines, content_type=MEDIA_TYPES[format])
    response["Content-Disposition"] = f'attachment; filename="{filename}.{format}"'
    return response


def export_schema(item: Serializer, csv_text: str, json_text: str) -> dict[str, Any]:
    """extend_schema's arguments for an export: its ?format= and its two kinds of body."""
    return {
        "parameters": [
            OpenApiParameter(
                "format",
                {"type": "string", "enum": list(FORMATS)},
                required=True,
                description=f"csv ({csv_text}) or json ({json_text})",
            )
        ],
        "responses": {
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV"),
            (200, "application/json"): item,
        },
    }


class StreamedExport:
    """A viewset's mixin: its `export_actions` read ?format= themselves (csv or json), where
    DRF would take it for a renderer's name (and answer 404). Their refusals (a 405 too) are
    JSON, as everywhere."""

    export_actions: tuple[str, ...] = ("export",)

    def perform_content_negotiation(self, request: Request, force: bool = False):
        if self.action_map.get("get") in self.export_actions:
            renderer = JSONRenderer()
            return renderer, renderer.media_type
        return super().perform_content_negotiation(request, force)
