"""The operator's share form: the launch contract's fields (`shares.contract`) as form fields,
validated by the API's own serializer, so the same bad input gives the same message beside the
same field."""

from __future__ import annotations

import re

from django import forms
from django.conf import settings

from shares.contract import FIELDS_BY_NAME, LAUNCH_FIELDS, Kind, LaunchField, Section, ShareType
from shares.validation import LaunchSerializer

_SEPARATORS = re.compile(r"[\s,;]+")
# dryrun is the form's buttons, not a field.
FORM_FIELDS = tuple(field for field in LAUNCH_FIELDS if field.section is not Section.NONE)


def split_ids(text: str) -> list[str]:
    """Ids pasted one per line, comma- or space-separated, in the order given."""
    return [value for value in _SEPARATORS.split(text or "") if value]


def form_field(spec: LaunchField) -> forms.Field:
    """The form field of one launch field; none is required here, the serializer says what is
    missing, in the API's words."""
    common = {"label": spec.label, "required": False, "help_text": spec.help}
    if spec.kind is Kind.IDS:
        textarea = forms.Textarea(attrs={"rows": 2, "cols": 60, "spellcheck": "false"})
        return forms.CharField(widget=textarea, **common)
    if spec.kind is Kind.CHOICES:
        return forms.MultipleChoiceField(
            choices=spec.choices, widget=forms.CheckboxSelectMultiple, **common
        )
    if spec.kind is Kind.CHOICE:
        return forms.ChoiceField(choices=spec.choices, widget=forms.RadioSelect, **common)
    if spec.kind is Kind.FLAG:
        return forms.BooleanField(**common)
    if spec.choices_from is not None:
        return forms.ChoiceField(choices=[("", "(none)"), *spec.choices_from()], **common)
    textbox = forms.TextInput(attrs={"size": 60, "placeholder": spec.placeholder})
    return forms.CharField(widget=textbox, **common)


def _who_help(spec: LaunchField) -> str:
    """The recipient's and the purpose's help: whether this service lets them be left out."""
    if settings.SHARE_REQUIRES_RECIPIENT:
        return f"{spec.help} Required for every share here."
    return (
        f"{spec.help} May be left out (SHARE_REQUIRES_RECIPIENT is off), but then the audit "
        "trail cannot say who received the data or why, and no recipient is notified."
    )


class ShareForm(forms.Form):
    """Every input of the launch API, under the API's names, so that the serializer's errors
    land beside the field that caused them."""

    launch: LaunchSerializer | None = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields.update({spec.name: form_field(spec) for spec in FORM_FIELDS})
        for name in ("recipientId", "purpose"):
            self.fields[name].help_text = _who_help(FIELDS_BY_NAME[name])

    def sections(self) -> list[tuple[str, list[forms.BoundField]]]:
        """The form's fields in the groups the page shows them in."""
        grouped: dict[str, list[forms.BoundField]] = {}
        for spec in sorted(FORM_FIELDS, key=lambda spec: list(Section).index(spec.section)):
            grouped.setdefault(spec.section.value, []).append(self[spec.name])
        return list(grouped.items())

    @classmethod
    def initial_from(cls, config: dict | None) -> dict:
        """Form values for a stored configuration (to edit it or to run it again); a pull
        when there is none."""
        if config is None:
            return {"shareType": ShareType.PULL}
        initial: dict = {}
        for spec in FORM_FIELDS:
            value = config.get(spec.name)
            if value is None:
                continue
            initial[spec.name] = "\n".join(value) if spec.kind is Kind.IDS else value
        return initial

    def payload(self) -> dict:
        """The launch payload the API would receive for these values (dryrun left out)."""
        payload: dict = {}
        for spec in FORM_FIELDS:
            value = self.cleaned_data.get(spec.name)
            if spec.kind is Kind.IDS:
                value = split_ids(value)
            elif spec.kind is Kind.CHOICES:
                value = list(value or [])
            if value or spec.kind is Kind.FLAG or (spec.required and spec.is_list):
                payload[spec.name] = bool(value) if spec.kind is Kind.FLAG else value
        return payload

    def clean(self) -> dict:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        launch = LaunchSerializer(data=self.payload())
        if launch.is_valid():
            self.launch = launch
            return cleaned
        for field, messages in launch.errors.items():
            target = field if field in self.fields else None
            for message in messages:
                self.add_error(target, str(message))
        return cleaned

    @property
    def config(self) -> dict:
        """The normalised configuration, once the form is valid."""
        assert self.launch is not None, "call is_valid() first"
        return self.launch.normalised_config
