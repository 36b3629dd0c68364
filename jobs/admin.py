"""The operator's console: the share form, the job table and the job page with its actions.

Jobs change only through the service functions the API calls (launch, abort, re-run, new
links, revoke a share link), with the same permissions: operators act, viewers look.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.core.paginator import EmptyPage, Page, Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from jobs.estimate import cost_text, duration_text
from jobs.forms import ShareForm
from jobs.models import Job, JobLogLine, JobObject, JobStatus
from jobs.services import abort_job, dry_run_age, launch_job, request_new_links, rerun_job
from sharelinks.downloads import download_counts, latest_receipt, recent_accesses
from sharelinks.serializers import RevokeSerializer
from sharelinks.services import revoke_job_link
from shares.checksums import ChecksumSource
from sharing_project.errors import DryRunRequired, LaunchRefused
from sharing_project.pagination import KnownCount

LAUNCH = "jobs.launch_job"
ABORT = "jobs.abort_job"
REVOKE = "sharelinks.revoke_sharelink"
OBJECTS_PER_PAGE = 50
GROUPS_PER_PAGE = 25
REFRESH_SECONDS = 2


def status_badge(job: Job) -> str:
    return format_html('<span class="status-badge status-{0}">{0}</span>', job.status)


def progress_bar(job: Job) -> str:
    progress = job.progress
    return format_html(
        '<div class="job-progress" title="{} of {} objects, {} of {} bytes">'
        # A <progress> element, not a width in a style attribute: the content security policy
        # (settings.py) allows no inline styles on the console.
        '<progress class="job-progress-fill" value="{}" max="100"></progress>'
        '<span class="job-progress-text">{}%</span></div>',
        progress.objects_done,
        progress.objects_total,
        progress.bytes_done,
        progress.bytes_total,
        progress.percent,
        progress.percent,
    )


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = [
        "short_id",
        "badge",
        "progress",
        "kind",
        "destination",
        "launched",
    ]
    list_filter = ["status", "share_type", "dryrun", "created_at"]
    search_fields = ["destination", "job_objects__library_id", "job_objects__portal_run_id"]
    search_help_text = "A job id, a destination, a library id or a portal run id."
    date_hierarchy = "created_at"
    list_select_related = ["created_by"]
    list_per_page = 50

    class Media:
        css = {"all": ["jobs/console.css"]}

    @admin.display(description="job", ordering="id")
    def short_id(self, job: Job) -> str:
        return str(job.pk)[:8]

    @admin.display(description="status", ordering="status")
    def badge(self, job: Job) -> str:
        return status_badge(job)

    @admin.display(description="share", ordering="share_type")
    def kind(self, job: Job) -> str:
        return job.kind

    @admin.display(description="launched", ordering="created_at")
    def launched(self, job: Job) -> str:
        when = timezone.localtime(job.created_at).strftime("%Y-%m-%d %H:%M")
        return f"{job.created_by.get_username()}, {when}"

    def changelist_view(self, request: HttpRequest, extra_context=None):
        return super().changelist_view(request, {"title": "Jobs", **(extra_context or {})})

    @admin.display(description="progress")
    def progress(self, job: Job) -> str:
        return progress_bar(job)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Job]:
        # A pull's share link (its outputs and its block on the page) comes with the job.
        return super().get_queryset(request).select_related("share_link__revoked_by")

    def get_search_results(self, request, queryset, search_term):
        """A whole job id finds its job; anything else searches destinations and objects."""
        try:
            return queryset.filter(pk=uuid.UUID(search_term.strip())), False
        except ValueError:
            return super().get_search_results(request, queryset, search_term)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(LAUNCH)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    # --- the share form -----------------------------------------------------------------

    def add_view(self, request: HttpRequest, form_url="", extra_context=None) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        refusal = None
        if request.method == "POST":
            form = ShareForm(request.POST)
            if form.is_valid():
                dryrun = "_launch" not in request.POST
                try:
                    job = launch_job(form.config, dryrun=dryrun, user=request.user)
                except LaunchRefused as error:
                    refusal = error
                else:
                    messages.success(request, f"{job.kind.capitalize()} launched.")
                    return HttpResponseRedirect(_job_url(job))
        else:
            form = ShareForm(initial=self._initial(request))
        context = {
            **self.admin_site.each_context(request),
            "title": "New share",
            "opts": self.opts,
            "form": form,
            "refusal": refusal,
            "offer_dry_run": isinstance(refusal, DryRunRequired),
            "dry_run_age": dry_run_age(),
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/jobs/job/share_form.html", context)

    def _initial(self, request: HttpRequest) -> dict:
        """?from=<job id> fills the form with that job's configuration."""
        try:
            source = uuid.UUID(request.GET.get("from", ""))
        except ValueError:
            return ShareForm.initial_from(None)
        job = Job.objects.select_related("share_request").filter(pk=source).first()
        return ShareForm.initial_from(job.config if job else None)

    # --- the job page -------------------------------------------------------------------

    def change_view(self, request: HttpRequest, object_id, form_url="", extra_context=None):
        job = self.get_object(request, unquote(object_id))
        if job is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_permission(request, job):
            raise PermissionDenied
        if request.method == "POST":
            return self._act(request, job)
        return TemplateResponse(
            request, "admin/jobs/job/job_page.html", self._job_context(request, job)
        )

    def _job_context(self, request: HttpRequest, job: Job) -> dict:
        """What the page shows, read so that a job of a million objects renders as fast as one
        of ten: totals counted once when the job finished (Job.object_summary), pages of
        objects by position, pages of groups in index order."""
        objects = job.job_objects.all()
        totals = _totals(job)
        dry_run = getattr(job, "dry_run_record", None) if job.dryrun else None
        user = request.user
        can_launch = user.has_perm(LAUNCH)
        return {
            **self.admin_site.each_context(request),
            "title": f"{job.kind.capitalize()} {job.pk}",
            "opts": self.opts,
            "job": job,
            "media": self.media,
            "badge": status_badge(job),
            "progress": progress_bar(job),
            "refresh_seconds": REFRESH_SECONDS,
            "request_rows": _request_rows(job.config),
            "request_json": json.dumps(job.config, indent=2, sort_keys=True),
            "totals": totals,
            "fastq_page": _page(
                request,
                "fastqs",
                KnownCount(objects.fastq_groups(), totals.get("shared_fastq_rows")),
                GROUPS_PER_PAGE,
            ),
            "run_page": _page(
                request,
                "runs",
                KnownCount(objects.portal_run_groups(), totals.get("shared_portal_runs")),
                GROUPS_PER_PAGE,
            ),
            "object_page": _object_page(request, job),
            "log_lines": JobLogLine.objects.filter(job=job).order_by("at", "pk"),
            "dry_run": dry_run,
            "estimate": _estimate(dry_run),
            "left_out": job.left_out_summary(),
            "nothing_new": job.found_nothing_new,
            "vouching_dry_run": job.vouching_dry_run(),
            "can_launch": can_launch,
            "can_abort": user.has_perm(ABORT) and not job.is_finished,
            "can_launch_this": can_launch and job.dryrun and job.status == JobStatus.SUCCEEDED,
            "can_new_links": can_launch and job.links_renewable,
            "edit_url": reverse("admin:jobs_job_add") + f"?from={job.pk}",
            **_share_link_context(job, user.has_perm(REVOKE)),
        }

    def _act(self, request: HttpRequest, job: Job) -> HttpResponse:
        """The page's buttons: each calls one service function, as the API does."""
        actions: dict[str, tuple[str, Callable[[], Job | None]]] = {
            "_abort": (ABORT, lambda: abort_job(job, request.user)),
            "_rerun": (LAUNCH, lambda: rerun_job(job, request.user)),
            "_launch_this": (
                LAUNCH,
                lambda: launch_job(job.config, dryrun=False, user=request.user, reviewed=job),
            ),
            "_new_links": (LAUNCH, lambda: request_new_links(job, request.user)),
            "_revoke": (REVOKE, lambda: _revoke(request, job)),
        }
        chosen = next((name for name in actions if name in request.POST), None)
        if chosen is None:
            return HttpResponseRedirect(_job_url(job))
        permission, action = actions[chosen]
        if not request.user.has_perm(permission):
            raise PermissionDenied
        try:
            result = action()
        except LaunchRefused as refusal:
            messages.error(request, refusal.message)
            return HttpResponseRedirect(_job_url(job))
        if chosen == "_abort":
            done = result.is_finished
            messages.success(
                request,
                "Aborted."
                if done
                else "Abort requested: in-flight work "
                "finishes and is recorded, nothing new starts.",
            )
        elif chosen == "_new_links":
            messages.success(request, "New links are being made; they replace these shortly.")
        elif chosen == "_revoke":
            messages.success(
                request, "Share link revoked: every later request with it is refused (403)."
            )
        else:
            messages.success(request, f"{result.kind.capitalize()} launched.")
            return HttpResponseRedirect(_job_url(result))
        return HttpResponseRedirect(_job_url(job))


def _share_link_context(job: Job, may_revoke: bool) -> dict:
    """A pull's share link, what it served and the last receipt: a few aggregate queries and
    the last accesses, whatever the job's size. Nothing for a job without a link."""
    link = job.issued_share_link
    if link is None:
        return {"share_link": None}
    return {
        "share_link": link,
        "share_downloads": download_counts(link),
        "receipt": latest_receipt(link),
        "recent_accesses": recent_accesses(link),
        "can_revoke": may_revoke and link.revoked_at is None,
        "access_log_csv": reverse("job-access-log-export", args=[job.pk]) + "?format=csv",
    }


def _revoke(request: HttpRequest, job: Job) -> Job:
    """The revoke form: its reason checked as the API checks it."""
    body = RevokeSerializer(data={"reason": request.POST.get("reason", "")})
    if not body.is_valid():
        raise LaunchRefused(f"Not revoked: {body.errors['reason'][0]}")
    return revoke_job_link(job, request.user, body.validated_data["reason"]).job


def _job_url(job: Job) -> str:
    return reverse("admin:jobs_job_change", args=[job.pk])


def job_link(job_id, text: str = "") -> str:
    """A link to a job's page, for the pages of other apps' rows (audit events, deliveries)."""
    url = reverse("admin:jobs_job_change", args=[job_id])
    return format_html('<a href="{}">{}</a>', url, text or job_id)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows the service writes (audit events, deliveries, share accesses...): looked at by
    operators and viewers, added, changed and deleted by nobody in the console."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


def _request_rows(config: dict) -> list[tuple[str, str]]:
    """The configuration as label/value rows, leaving out what was not given."""
    rows = []
    for name, value in config.items():
        if value in ([], "", None):
            continue
        shown = ", ".join(value) if isinstance(value, list) else str(value)
        rows.append((name, shown))
    return rows


def _totals(job: Job) -> dict:
    """The objects' totals, their statuses by label: counted once the job has finished; while
    it runs, only what its progress says (`counting`)."""
    summary = job.object_summary()
    if summary is None:
        return {"count": job.objects_total, "total_bytes": job.bytes_total, "counting": True}
    totals = dict(summary)
    labels = dict(JobObject.Status.choices)
    totals["by_status"] = [(labels[status], n) for status, n in sorted(totals["by_status"].items())]
    sources = dict(ChecksumSource.choices)
    totals["by_checksum"] = [
        (sources.get(source, "not known"), n, size)
        for source, (n, size) in sorted(totals["by_checksum"].items())
    ]
    return totals


def _estimate(dry_run) -> dict | None:
    """A dry run's estimate (jobs.estimate) with its cost and transfer time in words."""
    estimate = dry_run.estimate if dry_run is not None else None
    if estimate is None:
        return None
    return {
        **estimate,
        "cost_text": cost_text(estimate["egress"]),
        "duration_text": duration_text(estimate["transfer"]["seconds"]),
    }


@dataclass
class _ObjectPage:
    """A page of the object table: positions [(number - 1) * size, number * size), read as a
    range of the (job, position) index, never with an OFFSET. The manifest's positions run
    from 0 without gaps, so these are the same pages a paginator would make."""

    rows: list[JobObject]
    number: int
    num_pages: int
    previous_url: str
    next_url: str

    @property
    def has_other_pages(self) -> bool:
        return self.num_pages > 1

    @property
    def paginator(self) -> _ObjectPage:  # what _pager.html reads: page.paginator.num_pages
        return self


def _object_page(request: HttpRequest, job: Job) -> _ObjectPage:
    num_pages = max(1, -(-job.objects_total // OBJECTS_PER_PAGE))
    try:
        number = min(max(int(request.GET.get("page", 1)), 1), num_pages)
    except ValueError:
        number = 1
    first = (number - 1) * OBJECTS_PER_PAGE
    rows = list(
        job.job_objects.filter(position__gte=first, position__lt=first + OBJECTS_PER_PAGE).order_by(
            "position"
        )
    )
    return _ObjectPage(
        rows,
        number,
        num_pages,
        _with(request, "page", lambda: number - 1 if number > 1 else _no_page()),
        _with(request, "page", lambda: number + 1 if number < num_pages else _no_page()),
    )


def _no_page() -> int:
    raise EmptyPage


def _page(request: HttpRequest, parameter: str, rows: QuerySet, per_page: int) -> Page:
    """One page of rows; its previous/next links keep the other tables' pages."""
    page = Paginator(rows, per_page).get_page(request.GET.get(parameter))
    page.previous_url = _with(request, parameter, page.previous_page_number)
    page.next_url = _with(request, parameter, page.next_page_number)
    return page


def _with(request: HttpRequest, parameter: str, number: Callable[[], int]) -> str:
    query = request.GET.copy()
    try:
        query[parameter] = str(number())
    except EmptyPage:
        return ""
    return f"?{query.urlencode()}"


@admin.register(JobObject)
class JobObjectAdmin(admin.ModelAdmin):
    list_display = ["relative_path", "job", "kind", "size", "storage_class", "archived", "status"]
    list_filter = ["kind", "status", "archived"]
    search_fields = ["relative_path", "source_uri", "library_id", "portal_run_id"]
    list_select_related = ["job"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
