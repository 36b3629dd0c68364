"""The operator's share form: the launch payload as form fields, validated by the API's own
serializer, so the same bad input gives the same message beside the same field."""

from __future__ import annotations

import re

from django import forms

from catalogue.workflows import Workflow
from shares.validation import LaunchSerializer

ID_LISTS = {
    "projectIdList": "Projects",
    "subjectIdList": "Subjects",
    "individualIdList": "Individuals",
    "libraryIdList": "Libraries",
    "instrumentRunIdList": "Instrument runs",
    "portalRunIdList": "Portal runs",
    "portalRunIdExclusionList": "Portal runs to exclude",
}
ID_HELP = {
    "projectIdList": "Give one of projects, subjects, individuals or libraries.",
    "instrumentRunIdList": "Fastq only. With a metadata list, only their fastqs on these runs.",
    "portalRunIdList": "Secondary analysis: exactly these runs, whatever else is chosen.",
    "portalRunIdExclusionList": "Removed from the runs found through metadata and workflows.",
}
_SEPARATORS = re.compile(r"[\s,;]+")


def split_ids(text: str) -> list[str]:
    """Ids pasted one per line, comma- or space-separated, in the order given."""
    return [value for value in _SEPARATORS.split(text or "") if value]


def _id_field(name: str) -> forms.CharField:
    return forms.CharField(
        label=ID_LISTS[name],
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60, "spellcheck": "false"}),
        help_text=ID_HELP.get(name, "One per line or comma-separated."),
    )


class ShareForm(forms.Form):
    """Every input of the launch API. Fields carry the API's names, so that the serializer's
    errors land beside the field that caused them."""

    projectIdList = _id_field("projectIdList")
    subjectIdList = _id_field("subjectIdList")
    individualIdList = _id_field("individualIdList")
    libraryIdList = _id_field("libraryIdList")
    instrumentRunIdList = _id_field("instrumentRunIdList")
    dataTypeList = forms.MultipleChoiceField(
        label="Data types",
        required=False,
        choices=[("Fastq", "Fastq"), ("SecondaryAnalysis", "Secondary analysis")],
        widget=forms.CheckboxSelectMultiple,
    )
    defrostArchivedFastqs = forms.BooleanField(
        label="Defrost archived fastqs",
        required=False,
        help_text="Request the restore of archived fastqs; the job fails until they are back.",
    )
    secondaryAnalysisWorkflowList = forms.MultipleChoiceField(
        label="Workflows",
        required=False,
        choices=Workflow.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every workflow.",
    )
    portalRunIdList = _id_field("portalRunIdList")
    portalRunIdExclusionList = _id_field("portalRunIdExclusionList")
    shareType = forms.ChoiceField(
        label="Share type",
        required=False,
        choices=[("pull", "pull: download links"), ("push", "push: copy to a destination")],
        widget=forms.RadioSelect,
    )
    shareDestination = forms.CharField(
        label="Destination",
        required=False,
        widget=forms.TextInput(attrs={"size": 60, "placeholder": "s3://bucket/prefix/"}),
        help_text="Push only: s3://bucket/prefix/ or icav2://project/path/.",
    )

    launch: LaunchSerializer | None = None

    SECTIONS = [
        (
            "What to share",
            [*list(ID_LISTS)[:5], "dataTypeList", "defrostArchivedFastqs"],
        ),
        (
            "Secondary analysis",
            ["secondaryAnalysisWorkflowList", "portalRunIdList", "portalRunIdExclusionList"],
        ),
        ("How", ["shareType", "shareDestination"]),
    ]

    def sections(self) -> list[tuple[str, list[forms.BoundField]]]:
        """The form's fields in the groups the page shows them in."""
        return [(title, [self[name] for name in names]) for title, names in self.SECTIONS]

    @classmethod
    def initial_from(cls, config: dict) -> dict:
        """Form values for a stored configuration (to edit it or to run it again)."""
        initial = {name: "\n".join(config.get(name, [])) for name in ID_LISTS}
        data_types = {"fastq": "Fastq", "secondaryanalysis": "SecondaryAnalysis"}
        initial["dataTypeList"] = [data_types[t.lower()] for t in config.get("dataTypeList", [])]
        for name in ("secondaryAnalysisWorkflowList", "defrostArchivedFastqs", "shareType"):
            if name in config:
                initial[name] = config[name]
        initial["shareDestination"] = config.get("shareDestination", "")
        return initial

    def payload(self) -> dict:
        """The launch payload the API would receive for these values (dryrun left out)."""
        data = self.cleaned_data
        payload: dict = {name: split_ids(data[name]) for name in ID_LISTS if data.get(name)}
        for name in ("dataTypeList", "secondaryAnalysisWorkflowList"):
            if data.get(name):
                payload[name] = list(data[name])
        payload["dataTypeList"] = payload.get("dataTypeList", [])
        payload["defrostArchivedFastqs"] = bool(data.get("defrostArchivedFastqs"))
        if data.get("shareType"):
            payload["shareType"] = data["shareType"]
        if data.get("shareDestination"):
            payload["shareDestination"] = data["shareDestination"]
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
