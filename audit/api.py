"""The audit trail, read-only: a paginated list and an export of the same filtered events."""

from __future__ import annotations

from django.http import StreamingHttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request

from audit.export import StreamedExport, chosen_format, export_lines, export_schema, streamed
from audit.filters import AuditEventFilter
from audit.models import AuditEvent
from audit.serializers import AuditEventSerializer
from sharing_project.permissions import CanViewModel


class AuditEventViewSet(StreamedExport, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Every action on shares and recipients, newest first; filtered by recipient, user,
    action, job and time."""

    permission_classes = [CanViewModel]
    queryset = AuditEvent.objects.select_related("actor", "recipient")
    serializer_class = AuditEventSerializer
    filterset_class = AuditEventFilter

    @extend_schema(
        filters=True,
        **export_schema(
            AuditEventSerializer(many=True),
            csv_text="a header, then a line per event; details as JSON text",
            json_text="an array of events as the list shows them",
        ),
    )
    @action(detail=False, methods=["get"], pagination_class=None)
    def export(self, request: Request) -> StreamingHttpResponse:
        """Every event the filters select (not a page), oldest first, streamed."""
        format = chosen_format(request)
        events = self.filter_queryset(self.get_queryset())
        return streamed(export_lines(events, format), format, "audit-events")
