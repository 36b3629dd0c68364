"""Share links, their access log and receipts in the console: searchable, read-only (a link is
revoked from its job's page, never edited). The token is not stored; its salt is not shown."""

from __future__ import annotations

import uuid

from django.contrib import admin

from jobs.admin import ReadOnlyAdmin, job_link
from sharelinks.models import Receipt, ShareAccess, ShareLink

JOB_SEARCH = "A whole job id finds its job's rows; other words search "


class ReadOnly(ReadOnlyAdmin):
    """Looked at by operators and viewers, searchable by a whole job id."""

    job_field = "share__job_id"

    def get_search_results(self, request, queryset, search_term):
        """A whole job id finds its rows; anything else searches the search fields."""
        try:
            job_id = uuid.UUID(search_term.strip())
        except ValueError:
            return super().get_search_results(request, queryset, search_term)
        return queryset.filter(**{self.job_field: job_id}), False


@admin.register(ShareLink)
class ShareLinkAdmin(ReadOnly):
    job_field = "job_id"
    list_display = ["job_short", "state", "created_at", "expires_at", "revoked_at", "revoked_by"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter), "expires_at"]
    list_select_related = ["revoked_by"]
    search_fields = ["revoke_reason", "revoked_by__username"]
    search_help_text = JOB_SEARCH + "the revocation's reason and who revoked."
    fields = [
        "job_short",
        "state",
        "base_url",
        "created_at",
        "expires_at",
        "revoked_at",
        "revoked_by",
        "revoke_reason",
    ]
    readonly_fields = fields

    @admin.display(description="job", ordering="job")
    def job_short(self, link: ShareLink) -> str:
        return job_link(link.job_id, str(link.job_id)[:8])


@admin.register(ShareAccess)
class ShareAccessAdmin(ReadOnly):
    list_display = [
        "at",
        "job_short",
        "what",
        "via",
        "status",
        "allowed",
        "bytes",
        "client_address",
    ]
    list_filter = ["allowed", "via", "status"]
    date_hierarchy = "at"
    list_select_related = ["job_object"]
    list_per_page = 100
    search_fields = ["client_address", "user_agent", "resource"]
    search_help_text = JOB_SEARCH + "client addresses, user agents and resources (files/12...)."
    fields = [
        "at",
        "job_short",
        "resource",
        "what",
        "via",
        "allowed",
        "status",
        "bytes",
        "client_address",
        "user_agent",
    ]
    readonly_fields = fields

    @admin.display(description="job")
    def job_short(self, access: ShareAccess) -> str:
        return job_link(access.share.job_id, str(access.share.job_id)[:8]) if access.share else "-"

    @admin.display(description="file")
    def what(self, access: ShareAccess) -> str:
        return access.job_object.relative_path if access.job_object else access.resource

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("share")


@admin.register(Receipt)
class ReceiptAdmin(ReadOnly):
    list_display = ["received_at", "job_short", "summary", "files_failed", "client_address"]
    date_hierarchy = "received_at"
    list_select_related = ["share"]
    search_fields = ["client_address", "user_agent"]
    search_help_text = JOB_SEARCH + "client addresses and user agents."
    fields = [
        "received_at",
        "job_short",
        "summary",
        "files_total",
        "files_ok",
        "files_verified",
        "files_failed",
        "files_skipped",
        "bytes",
        "client_address",
        "user_agent",
    ]
    readonly_fields = fields

    @admin.display(description="job")
    def job_short(self, receipt: Receipt) -> str:
        return job_link(receipt.share.job_id, str(receipt.share.job_id)[:8])
