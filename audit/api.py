"""The audit trail, read-only: a paginated list and an export of the same filtered events."""

from __future__ import annotations

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request

from audit.export import FORMATS, export_lines
from audit.filters import AuditEventFilter
from audit.models import AuditEvent
from audit.serializers import AuditEventSerializer
from sharing_project.permissions import CanViewModel

MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json"}


class AuditEventViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Every action on shares and recipients, newest first; filtered by recipient, user,
    action, job and time."""

    permission_classes = [CanViewModel]
    queryset = AuditEvent.objects.select_related("actor", "recipient")
    serializer_class = AuditEventSerializer
    filterset_class = AuditEventFilter

    def perform_content_negotiation(self, request: Request, force: bool = False):
        # The export reads ?format= itself (csv or json): DRF would take it for a renderer's
        # name (and answer 404). Its refusals (a 405 too) are JSON, as everywhere.
        if self.action_map.get("get") == "export":
            renderer = JSONRenderer()
            return renderer, renderer.media_type
        return super().perform_content_negotiation(request, force)

    @extend_schema(
        filters=True,
        parameters=[
            OpenApiParameter(
                "format",
                {"type": "string", "enum": list(FORMATS)},
                required=True,
                description="csv (a header, then a line per event; details as JSON text) or "
                "json (an array of events as the list shows them)",
            )
        ],
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV"),
            (200, "application/json"): AuditEventSerializer(many=True),
        },
    )
    @action(detail=False, methods=["get"], pagination_class=None)
    def export(self, request: Request) -> StreamingHttpResponse:
        """Every event the filters select (not a page), oldest first, streamed."""
        format = request.query_params.get("format")
        if format not in FORMATS:
            given = "Required" if format is None else f"{format!r} is not a format"
            raise ValidationError({"format": [f"{given}: give csv or json."]})
        events = self.filter_queryset(self.get_queryset())
        response = StreamingHttpResponse(
            export_lines(events, format), content_type=MEDIA_TYPES[format]
        )
        response["Content-Disposition"] = f'attachment; filename="audit-events.{format}"'
        return response
