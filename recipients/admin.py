"""Recipients in the console: operators add and edit them; lists are typed one per line."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from recipients.models import EDITABLE_FIELDS, Recipient


class LinesField(forms.CharField):
    """A list edited as text, one value per line."""

    widget = forms.Textarea(attrs={"rows": 3, "cols": 60, "spellcheck": "false"})

    def prepare_value(self, value):
        return "\n".join(value) if isinstance(value, list) else value

    def to_python(self, value) -> list[str]:
        return [line.strip() for line in (value or "").splitlines() if line.strip()]


FIELDS = EDITABLE_FIELDS


class RecipientForm(forms.ModelForm):
    contact_emails = LinesField(required=False, help_text="One address per line.")
    allowed_destinations = LinesField(
        required=False, help_text=Recipient._meta.get_field("allowed_destinations").help_text
    )

    class Meta:
        model = Recipient
        fields = FIELDS


@admin.register(Recipient)
class RecipientAdmin(admin.ModelAdmin):
    form = RecipientForm
    list_display = ["recipient_id", "name", "organisation", "destinations", "active"]
    list_filter = ["active", "notify_contacts"]
    search_fields = ["recipient_id", "name", "organisation", "notes"]
    fields = FIELDS

    @admin.display(description="allowed destinations")
    def destinations(self, recipient: Recipient) -> str:
        return ", ".join(recipient.allowed_destinations) or "none"

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> list[str]:
        # Configurations name the recipient by its id: it never changes once saved.
        return ["recipient_id"] if obj is not None else []

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        # A recipient that was given data stays on record; make it inactive instead.
        return False
