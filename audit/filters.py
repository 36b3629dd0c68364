from __future__ import annotations

import django_filters as filters

from audit.models import AuditAction, AuditEvent
from sharing_project.filters import StrictFilterSet, UtcDateTimeFilter

NOT_A_TIME = {
    "invalid": "Give an ISO 8601 date or time, such as 2026-12-03 or 2026-12-03T09:30:00Z."
}


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
    jobId = filters.UUIDFilter(
        field_name="job_id",
        help_text="events of this job",
        error_messages={
            "invalid": "Give a job id: a UUID such as 6769bef8-06d7-4af4-bfaf-922f3d95ec8b."
        },
    )
    since = UtcDateTimeFilter(
        field_name="at",
        lookup_expr="gte",
        error_messages=NOT_A_TIME,
        help_text="events at or after this time (ISO 8601; a date alone is its midnight, and "
        "a time without an offset is in the service's TIME_ZONE, UTC by default)",
    )
    until = UtcDateTimeFilter(
        field_name="at",
        lookup_expr="lt",
        error_messages=NOT_A_TIME,
        help_text="events before this time (a date alone is its midnight: until=2026-12-04 "
        "ends with 3 December)",
    )

    class Meta:
        model = AuditEvent
        fields: list[str] = []
