"""The job API: launch (202), status, what a job shares, abort. Status is read-only."""

from __future__ import annotations

from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from catalogue.api import ANY_SEGMENT
from jobs.filters import JobFilter, JobObjectFilter
from jobs.models import Job, JobLogLine, JobObject
from jobs.permissions import JobPermission
from jobs.serializers import (
    JobDetailSerializer,
    JobObjectSerializer,
    JobSerializer,
    RefusalSerializer,
    SharedFastqSerializer,
    SharedPortalRunSerializer,
    keyset_page,
    paginated,
)
from jobs.services import abort_job, launch_job, request_new_links, rerun_job
from shares.validation import LaunchSerializer
from sharing_project.errors import LaunchRefused
from sharing_project.filters import filter_parameters
from sharing_project.pagination import KeysetPagination, KnownCount, StandardPagination

# The job's own listings are paginated by hand (_page), so the schema is told of the parameters.
PAGE_PARAMETERS = [
    OpenApiParameter(p["name"], p["schema"], description=p["description"], required=p["required"])
    for p in StandardPagination().get_schema_operation_parameters(view=None)
]


class JobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = Job.objects.select_related(
        "share_request", "created_by", "source_dry_run"
    ).prefetch_related(Prefetch("log_lines", queryset=JobLogLine.objects.order_by("at", "pk")))
    serializer_class = JobSerializer
    permission_classes = [JobPermission]
    lookup_value_regex = ANY_SEGMENT

    def get_serializer_class(self):
        return JobDetailSerializer if self.action == "retrieve" else JobSerializer

    filterset_class = JobFilter

    def get_queryset(self):
        if self.action in ("fastqs", "portal_run_ids", "objects"):
            return Job.objects.all()
        return super().get_queryset()

    def filter_queryset(self, queryset):
        if self.action in ("fastqs", "portal_run_ids", "objects"):
            return queryset  # their filters apply to the job's objects, not to jobs
        return super().filter_queryset(queryset)

    @extend_schema(
        request=LaunchSerializer,
        # 400 (the body names each wrong field) is declared with every other error answer
        # by sharing_project.openapi.declare_error_responses.
        responses={202: JobDetailSerializer, 409: RefusalSerializer},
    )
    def create(self, request: Request) -> Response:
        launch = LaunchSerializer(data=request.data)
        launch.is_valid(raise_exception=True)
        config, dryrun = launch.normalised_config, launch.validated_data["dryrun"]
        return self._act(request, lambda: launch_job(config, dryrun=dryrun, user=request.user))

    @extend_schema(request=None, responses={202: JobDetailSerializer, 409: RefusalSerializer})
    @action(detail=True, methods=["post"])
    def abort(self, request: Request, pk=None) -> Response:
        job = self.get_object()
        return self._act(request, lambda: abort_job(job, request.user), new_job=False)

    @extend_schema(request=None, responses={202: JobDetailSerializer, 409: RefusalSerializer})
    @action(detail=True, methods=["post"])
    def rerun(self, request: Request, pk=None) -> Response:
        """A new job of the same configuration (a push still needs a valid dry run)."""
        job = self.get_object()
        return self._act(request, lambda: rerun_job(job, request.user))

    @extend_schema(request=None, responses={202: JobDetailSerializer, 409: RefusalSerializer})
    @action(detail=True, methods=["post"], url_path="new-links")
    def new_links(self, request: Request, pk=None) -> Response:
        """Fresh presigned links, script and LIMS CSV for a pull that succeeded; the job's
        outputs change once the worker has made them."""
        job = self.get_object()
        return self._act(request, lambda: request_new_links(job, request.user), new_job=False)

    def _act(self, request: Request, action, *, new_job: bool = True) -> Response:
        """Run one service function: 202 with the job it returns (and, for a new job, its
        Location), or the refusal's status with its message."""
        try:
            job = action()
        except LaunchRefused as refusal:
            return Response({"detail": refusal.message, **refusal.extra}, refusal.status_code)
        body = JobDetailSerializer(self.get_queryset().get(pk=job.pk), context={"request": request})
        headers = {"Location": body.data["url"]} if new_job else {}
        return Response(body.data, status.HTTP_202_ACCEPTED, headers=headers)

    # Both list groups in the order of an index, and take their count from the job once it has
    # finished (Job.object_summary): a page reads its own groups' rows, not the whole job's.
    @extend_schema(responses=paginated(SharedFastqSerializer), parameters=PAGE_PARAMETERS)
    @action(detail=True, methods=["get"])
    def fastqs(self, request: Request, pk=None) -> Response:
        job = self.get_object()
        rows = job.job_objects.all().fastq_groups()
        return self._page(
            KnownCount(rows, _summary(job, "shared_fastq_rows")), SharedFastqSerializer
        )

    @extend_schema(responses=paginated(SharedPortalRunSerializer), parameters=PAGE_PARAMETERS)
    @action(detail=True, methods=["get"], url_path="portal-run-ids")
    def portal_run_ids(self, request: Request, pk=None) -> Response:
        job = self.get_object()
        rows = job.job_objects.all().portal_run_groups()
        count = _summary(job, "shared_portal_runs")
        return self._page(KnownCount(rows, count), SharedPortalRunSerializer)

    @extend_schema(
        responses=keyset_page(JobObjectSerializer),
        parameters=[
            *KeysetPagination.schema_parameters(),
            *filter_parameters(JobObjectFilter),
        ],
    )
    @action(detail=True, methods=["get"])
    def objects(self, request: Request, pk=None) -> Response:
        """The job's objects in manifest order, a page at a time by position (`next`): as
        cheap at the millionth object as at the first."""
        job = self.get_object()
        chosen = JobObjectFilter(request.query_params, queryset=JobObject.objects.filter(job=job))
        if not chosen.is_valid():
            raise ValidationError(chosen.errors)
        pages = KeysetPagination()
        rows = pages.paginate_queryset(chosen.qs, request, view=self)
        page = pages.get_paginated_response(JobObjectSerializer(rows, many=True).data)
        return Response({"objectsTotal": job.objects_total, **page.data})

    def _page(self, rows, serializer_class) -> Response:
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(serializer_class(page, many=True).data)


def _summary(job: Job, name: str) -> int | None:
    """One of the totals counted when the job finished; None while it runs."""
    summary = job.object_summary()
    return None if summary is None else summary[name]
