from __future__ import annotations

import django_filters as filters

from audit.models import AuditAction, AuditEvent
from sharing_project.filters import StrictFilterSet


class AuditEventFilter(StrictFilterSet):
    """The same filters for the list, its export and `manage.py audit_report`."""

    recipientId = filters.CharFilter(
        field_name="recipient__recipient_id", help_text="events for this recipient"
    )
    user = filters.CharFilter(
        field_name="actor__username",
        help_text="events of this user (a worker's events count as its job's launcher's)",
    )
    action = filters.MultipleChoiceFilter(
        choices=AuditAction.choices, help_text="one or more actions: repeated (?action=A&action=B)"
    )
    jobId = filters.UUIDFilter(field_name="job_id", help_text="events of this job")
    since = filters.IsoDateTimeFilter(
        field_name="at",
        lookup_expr="gte",
        help_text="events at or after this time (ISO 8601; a date alone is its midnight, UTC "
        "unless an offset is given)",
    )
    until = filters.IsoDateTimeFilter(
        field_name="at",
        lookup_expr="lt",
        help_text="events before this time (a date alone is its midnight: until=2026-12-04 "
        "ends with 3 December)",
    )

    class Meta:
        model = AuditEvent
        fields: list[str] = []
