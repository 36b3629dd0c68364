"""Notifications in the console: operators register webhooks (and read their secrets);
emails sent and webhook deliveries are read-only records."""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from jobs.admin import ReadOnlyAdmin, job_link
from notifications.models import EmailNotification, Webhook, WebhookDelivery

RECENT_DELIVERIES = 20


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    list_display = ["__str__", "active", "created_at", "last_delivery"]
    list_filter = ["active"]
    search_fields = ["description"]
    actions = ["give_new_secrets"]

    def get_fields(self, request: HttpRequest, obj=None) -> list[str]:
        fields = ["url", "description", "active"]
        return fields if obj is None else [*fields, "secret", "created_at", "recent_deliveries"]

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> list[str]:
        return [] if obj is None else ["secret", "created_at", "recent_deliveries"]

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        # Its deliveries are the record of what was told to whom; make it inactive instead.
        return False

    def response_add(self, request: HttpRequest, obj: Webhook, post_url_continue=None):
        """To the hook's page, where its secret is: the receiver needs it."""
        messages.success(
            request,
            f"Webhook {obj} added. Give its receiver the secret below: it checks each "
            "delivery's X-DSM-Signature with it.",
        )
        return HttpResponseRedirect(reverse("admin:notifications_webhook_change", args=[obj.pk]))

    @admin.display(description="last delivery")
    def last_delivery(self, hook: Webhook) -> str:
        last = hook.deliveries.first()
        return f"{last.status} ({last.started_at:%Y-%m-%d %H:%M})" if last else "none yet"

    @admin.display(description=f"last {RECENT_DELIVERIES} deliveries")
    def recent_deliveries(self, hook: Webhook) -> str:
        rows = hook.deliveries.all()[:RECENT_DELIVERIES]
        if not rows:
            return "none yet"
        table = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    f"{d.started_at:%Y-%m-%d %H:%M:%S}",
                    job_link(d.job_id),
                    d.attempt,
                    d.status_code or "",
                    d.outcome,
                    d.error,
                )
                for d in rows
            ),
        )
        everything = reverse("admin:notifications_webhookdelivery_changelist")
        return format_html(
            "<table><tr><th>started</th><th>job</th><th>attempt</th><th>answer</th>"
            '<th>outcome</th><th>error</th></tr>{}</table><a href="{}?hook__id__exact={}">'
            "every delivery of this hook</a>",
            table,
            everything,
            hook.pk,
        )

    @admin.action(description="Give the selected webhooks new secrets", permissions=["change"])
    def give_new_secrets(self, request: HttpRequest, queryset) -> None:
        for hook in queryset:
            hook.new_secret()
        messages.warning(
            request,
            f"{queryset.count()} webhook(s) have new secrets: give them to their receivers; "
            "deliveries are signed with the new ones from now on.",
        )


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = [
        "started_at",
        "job_link",
        "hook",
        "attempt",
        "status_code",
        "duration_ms",
        "outcome",
        "error",
    ]
    list_filter = ["status", "hook", "event_type"]
    search_fields = ["job__id", "delivery_id"]
    list_select_related = ["hook"]
    fields = [
        "hook",
        "job_link",
        "event_type",
        "attempt",
        "delivery_id",
        "status",
        "status_code",
        "duration_ms",
        "error",
        "started_at",
        "next_attempt_at",
        "body",
    ]
    readonly_fields = fields

    @admin.display(description="job")
    def job_link(self, delivery: WebhookDelivery) -> str:
        return job_link(delivery.job_id)


@admin.register(EmailNotification)
class EmailNotificationAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "job_link", "kind", "addresses", "subject", "status", "error"]
    list_filter = ["status", "kind"]
    search_fields = ["job__id", "subject"]
    fields = ["job_link", "kind", "addresses", "subject", "status", "error", "created_at"]
    readonly_fields = fields

    @admin.display(description="job")
    def job_link(self, email: EmailNotification) -> str:
        return job_link(email.job_id)

    @admin.display(description="to")
    def addresses(self, email: EmailNotification) -> str:
        return ", ".join(email.to)
