"""Events as CSV or JSON, a row at a time: an export of any size is streamed, never held whole.

The API's export and `manage.py audit_report` both write through these functions.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from typing import Any

from django.db.models import QuerySet

from audit.models import AuditEvent
from audit.serializers import COLUMNS, AuditEventSerializer

FORMATS = ("csv", "json")
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


def csv_lines(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    """A header, then a line per event; `details` is its JSON text."""
    writer = csv.writer(_Line())
    yield writer.writerow(COLUMNS)
    for row in rows:
        yield writer.writerow(
            [json.dumps(row[name]) if name == "details" else row[name] for name in COLUMNS]
        )


def json_lines(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    """One JSON array, an event a line."""
    yield "["
    separator = "\n"
    for row in rows:
        yield separator + json.dumps(row, ensure_ascii=False)
        separator = ",\n"
    yield "\n]\n"


def export_lines(events: QuerySet[AuditEvent], format: str) -> Iterator[str]:
    rows = event_rows(events)
    return csv_lines(rows) if format == "csv" else json_lines(rows)
