"""The audit trail in the console: read by operators and viewers, changed by nobody."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from audit.models import AuditEvent
from jobs.admin import ReadOnlyAdmin, job_link


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["at", "action", "who", "job_link", "recipient_link", "purpose", "summary"]
    list_filter = [
        ("recipient", admin.RelatedOnlyFieldListFilter),
        ("actor", admin.RelatedOnlyFieldListFilter),
        "action",
        "actor_kind",
    ]
    date_hierarchy = "at"
    list_select_related = ["actor", "recipient"]
    list_per_page = 100
    search_fields = ["purpose"]
    search_help_text = "Words of the purpose."
    fields = [
        "at",
        "action",
        "actor",
        "actor_kind",
        "credential",
        "client_address",
        "job_link",
        "recipient_link",
        "purpose",
        "details",
    ]
    readonly_fields = fields

    @admin.display(description="who")
    def who(self, event: AuditEvent) -> str:
        return f"{event.actor_name} ({event.get_actor_kind_display()})"

    @admin.display(description="job", ordering="job")
    def job_link(self, event: AuditEvent) -> str:
        if event.job_id is None:
            return "-"
        return job_link(event.job_id, str(event.job_id)[:8])

    @admin.display(description="recipient", ordering="recipient__recipient_id")
    def recipient_link(self, event: AuditEvent) -> str:
        if event.recipient is None:
            return "-"
        url = reverse("admin:recipients_recipient_change", args=[event.recipient.pk])
        return format_html('<a href="{}">{}</a>', url, event.recipient.recipient_id)

    @admin.display(description="facts")
    def summary(self, event: AuditEvent) -> str:
        return event.summary
