"""Read-only catalogue endpoints: libraries, fastq list rows and workflow runs."""

from __future__ import annotations

from rest_framework import viewsets

from catalogue.filters import FastqFilter, LibraryFilter, WorkflowRunFilter
from catalogue.models import Fastq, Library, WorkflowRun
from catalogue.serializers import (
    FastqSerializer,
    LibrarySerializer,
    WorkflowRunSerializer,
)
from sharing_project.permissions import CanViewModel

# Any path segment reaches the view, which answers a JSON 404 for an id it does not know; the
# router's default ([^/.]+) leaves ids with a dot to Django's HTML 404.
ANY_SEGMENT = "[^/]+"


class LibraryViewSet(viewsets.ReadOnlyModelViewSet):
    permission_classes = [CanViewModel]
    lookup_value_regex = ANY_SEGMENT
    queryset = Library.objects.select_related("sample", "subject").prefetch_related(
        "projects", "subject__individuals"
    )
    serializer_class = LibrarySerializer
    filterset_class = LibraryFilter
    lookup_field = "library_id"
    lookup_url_kwarg = "libraryId"


class FastqViewSet(viewsets.ReadOnlyModelViewSet):
    permission_classes = [CanViewModel]
    lookup_value_regex = ANY_SEGMENT
    queryset = Fastq.objects.select_related("library")
    serializer_class = FastqSerializer
    filterset_class = FastqFilter


class WorkflowRunViewSet(viewsets.ReadOnlyModelViewSet):
    permission_classes = [CanViewModel]
    lookup_value_regex = ANY_SEGMENT
    queryset = WorkflowRun.objects.prefetch_related("libraries")
    serializer_class = WorkflowRunSerializer
    filterset_class = WorkflowRunFilter
    lookup_field = "portal_run_id"
    lookup_url_kwarg = "portalRunId"
