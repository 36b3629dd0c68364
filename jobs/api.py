"""The job API: launch (202), status, what a job shares, abort; a pull's share link: revoke
it, what was downloaded, its access log. Status is read-only."""

from __future__ import annotations

from django.db.models import Prefetch
from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from audit.export import (
    StreamedExport,
    chosen_format,
    csv_lines,
    export_schema,
    json_lines,
    streamed,
)
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
from sharelinks.downloads import access_log, object_downloads
from sharelinks.filters import DownloadFilter
from sharelinks.serializers import (
    ACCESS_COLUMNS,
    ObjectDownloadSerializer,
    RevokeSerializer,
    ShareAccessSerializer,
    object_rows,
)
from sharelinks.services import job_link, revoke_job_link
from shares.validation import LaunchSerializer
from sharing_project.errors import LaunchRefused
from sharing_project.filters import filter_parameters
from sharing_project.pagination import KeysetPagination, KnownCount, StandardPagination

ACCESS_LOG_EXPORT = export_schema(
    ShareAccessSerializer(many=True),
    csv_text="a header, then a line per request",
    json_text="an array of requests, as the columns name them",
)
ACCESS_LOG_EXPORT["responses"][409] = RefusalSerializer
# The job's own listings are paginated by hand (_page), so the schema is told of the parameters.
PAGE_PARAMETERS = [
    OpenApiParameter(p["name"], p["schema"], description=p["description"], required=p["required"])
    for p in StandardPagination().get_schema_operation_parameters(view=None)
]


FETCHED = OpenApiParameter(
    "fetched",
    bool,
    description="true: only the objects fetched at least once; false: only those never fetched",
)
ACCESS_LOG_EXPORT = export_schema(
    ShareAccessSerializer(many=True),
    csv_text="a header, then a line per request",
    json_text="an array of requests, as the columns name them",
)
ACCESS_LOG_EXPORT["responses"][409] = RefusalSerializer
# The job's own listings, which read the job alone and filter its objects themselves.
OWN_LISTINGS = ("fastqs", "portal_run_ids", "objects", "downloads", "access_log_export")


class JobViewSet(
    StreamedExport, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    export_actions = ("access_log_export",)
    queryset = Job.objects.select_related(
        "share_request", "created_by", "source_dry_run", "share_link__revoked_by"
    ).prefetch_related(Prefetch("log_lines", queryset=JobLogLine.objects.order_by("at", "pk")))
    serializer_class = JobSerializer
    permission_classes = [JobPermission]
    lookup_value_regex = ANY_SEGMENT

    def get_serializer_class(self):
        return JobDetailSerializer if self.action == "retrieve" else JobSerializer

    filterset_class = JobFilter

    def get_queryset(self):
        if self.action in OWN_LISTINGS:
            return Job.objects.all()
        return super().get_queryset()

    def filter_queryset(self, queryset):
        if self.action in OWN_LISTINGS:
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

    @extend_schema(
        request=RevokeSerializer,
        responses={200: JobDetailSerializer, 409: RefusalSerializer},
    )
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk=None) -> Response:
        """Revoke a pull's share link at once: every later request with it is refused (403
        with the custodian's message; the script stops). Operators only; 409 for a job
        without a link, or one revoked already."""
        job = self.get_object()
        body = RevokeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        reason = body.validated_data["reason"]
        return self._act(
            request,
            lambda: revoke_job_link(job, request.user, reason).job,
            new_job=False,
            done=status.HTTP_200_OK,
        )

    def _act(
        self,
        request: Request,
        action,
        *,
        new_job: bool = True,
        done: int = status.HTTP_202_ACCEPTED,
    ) -> Response:
        """Run one service function: `done` (202: queued) with the job it returns (and, for a
        new job, its Location), or the refusal's status with its message."""
        try:
            job = action()
        except LaunchRefused as refusal:
            return Response({"detail": refusal.message, **refusal.extra}, refusal.status_code)
        body = JobDetailSerializer(self.get_queryset().get(pk=job.pk), context={"request": request})
        headers = {"Location": body.data["url"]} if new_job else {}
        return Response(body.data, done, headers=headers)

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

    @extend_schema(
        responses={200: keyset_page(ObjectDownloadSerializer), 409: RefusalSerializer},
        parameters=[*KeysetPagination.schema_parameters(), FETCHED],
    )
    @action(detail=True, methods=["get"])
    def downloads(self, request: Request, pk=None) -> Response:
        """What a pull's share link served of each object, in manifest order, a page at a time
        (`next`): one aggregate query a page, whatever the job's size. 409 for a job without
        a share link."""
        job = self.get_object()
        chosen = DownloadFilter(request.query_params, queryset=JobObject.objects.filter(job=job))
        if not chosen.is_valid():
            raise ValidationError(chosen.errors)
        try:
            job_link(job)
        except LaunchRefused as refusal:
            return Response({"detail": refusal.message}, refusal.status_code)
        pages = KeysetPagination()
        rows = pages.paginate_queryset(chosen.qs, request, view=self)
        items = ObjectDownloadSerializer(object_rows(rows, object_downloads(rows)), many=True)
        page = pages.get_paginated_response(items.data)
        return Response({"objectsTotal": job.objects_total, **page.data})

    @extend_schema(**ACCESS_LOG_EXPORT)
    @action(detail=True, methods=["get"], url_path="access-log/export", pagination_class=None)
    def access_log_export(self, request: Request, pk=None) -> StreamingHttpResponse | Response:
        """Every request made with a pull's share link, oldest first, streamed: when, what,
        from where, allowed or not (tokens are never stored). 409 for a job without a link."""
        job = self.get_object()
        format = chosen_format(request)
        try:
            link = job_link(job)
        except LaunchRefused as refusal:
            return Response({"detail": refusal.message}, refusal.status_code)
        serializer = ShareAccessSerializer()
        rows = (serializer.to_representation(a) for a in access_log(link).iterator(chunk_size=1000))
        lines = csv_lines(rows, ACCESS_COLUMNS, ()) if format == "csv" else json_lines(rows)
        return streamed(lines, format, f"access-log-{job.pk}")

    def _page(self, rows, serializer_class) -> Response:
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(serializer_class(page, many=True).data)


def _summary(job: Job, name: str) -> int | None:
    """One of the totals counted when the job finished; None while it runs."""
    summary = job.object_summary()
    return None if summary is None else summary[name]
