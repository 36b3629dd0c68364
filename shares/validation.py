"""The launch payload: every rule of the launch contract, and its normalised configuration.

The serializer answers a 400 that names each bad field and says what to do; when it is valid,
`normalised_config` is the one form that is stored, fingerprinted and resolved.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from rest_framework import serializers

from catalogue.models import Fastq, Library, WorkflowRun
from catalogue.workflows import accepted_workflow_names, canonical_workflow
from recipients.models import Recipient
from shares.contract import (
    LAUNCH_FIELDS,
    METADATA_LISTS,
    SYNONYMS,
    DataType,
    Kind,
    LaunchField,
    ShareType,
    stored_config,
)
from shares.destinations import parse_destination
from shares.resolve import select, unsafe_reason

DATA_TYPES = {data_type.value.lower(): data_type.value for data_type in DataType}
FASTQ, SECONDARY = DataType.FASTQ, DataType.SECONDARY_ANALYSIS
METADATA_HELP = ", ".join(METADATA_LISTS)


class IdListField(serializers.ListField):
    """A list of ids: trimmed, de-duplicated, sorted; every malformed id named at once."""

    def __init__(self, validator: Callable[[str], None], **kwargs):
        self.id_validator = validator
        kwargs.setdefault("required", False)
        kwargs.setdefault("default", list)
        limit = settings.API_MAX_IDS
        super().__init__(
            child=serializers.CharField(),
            max_length=limit,
            error_messages={
                "max_length": f"At most {limit} ids in one list (API_MAX_IDS); this one has "
                "more: split the share into several launches."
            },
            **kwargs,
        )

    def to_internal_value(self, data) -> list[str]:
        values = sorted({value.strip() for value in super().to_internal_value(data)})
        bad, message = [], ""
        for value in values:
            try:
                self.id_validator(value)
            except DjangoValidationError as error:
                bad.append(value)
                message = error.messages[0]
        if bad:
            raise serializers.ValidationError(f"Malformed: {', '.join(map(repr, bad))}. {message}")
        return values


class LaunchSerializer(serializers.Serializer):
    """Every field of `shares.contract.LAUNCH_FIELDS`, with the rules that join them."""

    def get_fields(self) -> dict[str, serializers.Field]:
        return {launch_field.name: _api_field(launch_field) for launch_field in LAUNCH_FIELDS}

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError({"non_field_errors": ["Send a JSON object."]})
        data = dict(data)
        errors: dict[str, list[str]] = {}
        for synonym, name in SYNONYMS.items():
            if synonym in data:
                if name in data:
                    errors[synonym] = [f"Give either {synonym} or {name}, not both."]
                data[name] = data.pop(synonym)
        unknown = sorted(set(data) - set(self.fields))
        for name in unknown:
            errors[name] = [
                f"Unknown field. Accepted fields: {', '.join(sorted(self.fields))} "
                f"(and {', '.join(SYNONYMS)})."
            ]
        if errors:
            raise serializers.ValidationError(errors)
        return super().to_internal_value(data)

    def validate_dataTypeList(self, values: list[str]) -> list[str]:
        normalised, unknown = set(), []
        for value in values:
            data_type = DATA_TYPES.get(value.strip().lower())
            if data_type is None:
                unknown.append(value)
            else:
                normalised.add(data_type)
        if unknown:
            raise serializers.ValidationError(
                f"Unknown data type(s) {', '.join(map(repr, unknown))}; use Fastq and/or "
                "SecondaryAnalysis."
            )
        return sorted(normalised)

    def validate_secondaryAnalysisWorkflowList(self, values: list[str]) -> list[str]:
        canonical, unknown = set(), []
        for value in values:
            workflow = canonical_workflow(value)
            if workflow is None:
                unknown.append(value)
            else:
                canonical.add(workflow.value)
        if unknown:
            raise serializers.ValidationError(
                f"Unknown workflow(s) {', '.join(map(repr, unknown))}; use one of "
                f"{', '.join(accepted_workflow_names())}."
            )
        return sorted(canonical)

    def validate_primaryDataPathPrefix(self, value: str) -> str:
        return _relative_folder(value)

    def validate_secondaryAnalysisPathPrefix(self, value: str) -> str:
        return _relative_folder(value)

    def validate_shareLinkExpiryDays(self, value: str) -> str:
        if not value:
            return value
        maximum = settings.SHARE_LINK_MAX_DAYS
        if not value.isdigit() or not 1 <= int(value) <= maximum:
            raise serializers.ValidationError(
                f"A whole number of days from 1 to {maximum} (SHARE_LINK_MAX_DAYS), or leave it "
                f"out for {settings.SHARE_LINK_DEFAULT_DAYS}."
            )
        return str(int(value))

    def validate_purpose(self, value: str) -> str:
        if len(value) > PURPOSE_MAX_LENGTH:
            raise serializers.ValidationError(
                f"At most {PURPOSE_MAX_LENGTH} characters: give the approval's reference and "
                "keep the details in the approval itself."
            )
        return value

    def validate(self, attrs: dict) -> dict:
        checks = (
            _check_rules,
            _check_destination,
            _check_recipient,
            _check_ids_exist,
            _check_selection,
        )
        for check in checks:
            errors = check(attrs)
            if errors:
                raise serializers.ValidationError(errors)
        return attrs

    @property
    def normalised_config(self) -> dict:
        """The configuration as stored and fingerprinted (shares.contract.stored_config)."""
        return stored_config(self.validated_data)


def _api_field(spec: LaunchField) -> serializers.Field:
    """The serializer field of one launch field; lists and flags not given default to empty."""
    messages = {"error_messages": spec.messages} if spec.messages else {}
    if spec.kind is Kind.IDS:
        return IdListField(spec.validator)
    if spec.kind is Kind.CHOICES:
        # Free text, normalised by validate_<name>: aliases and any case are accepted.
        optional = {} if spec.required else {"required": False, "default": list}
        return serializers.ListField(
            child=serializers.CharField(),
            allow_empty=not spec.required,
            min_length=1 if spec.required else None,  # the schema's minItems
            **optional,
            **messages,
        )
    if spec.kind is Kind.CHOICE:
        return serializers.ChoiceField(choices=[value for value, _ in spec.choices], **messages)
    if spec.kind is Kind.FLAG:
        return serializers.BooleanField(default=False)
    return serializers.CharField(
        required=False, allow_blank=True, default=spec.default, trim_whitespace=True
    )


Errors = dict[str, list[str]]
PURPOSE_MAX_LENGTH = 500


def _relative_folder(value: str) -> str:
    """A folder below the destination: no leading or trailing slash, nothing that climbs out."""
    folder = value.strip("/")
    if not folder:
        raise serializers.ValidationError(
            "Give a folder name such as fastq, or leave the field out for its default."
        )
    reason = unsafe_reason(folder) or ("holds a backslash" if "\\" in folder else None)
    if reason:
        raise serializers.ValidationError(
            f"{value!r} {reason}; give a relative folder such as fastq or data/fastq."
        )
    return folder


def _check_rules(a: dict) -> Errors:
    errors: Errors = {}
    given = [name for name in METADATA_LISTS if a[name]]
    for name in given[1:]:
        errors[name] = [f"Cannot be used with {given[0]}; give only one of {METADATA_HELP}."]
    fastq, secondary = FASTQ in a["dataTypeList"], SECONDARY in a["dataTypeList"]
    if a["instrumentRunIdList"] and not fastq:
        errors["instrumentRunIdList"] = ["Only used for fastq sharing; add Fastq to dataTypeList."]
    if a["defrostArchivedFastqs"] and not fastq:
        errors["defrostArchivedFastqs"] = [
            "Only used for fastq sharing; add Fastq to dataTypeList."
        ]
    for name in ("secondaryAnalysisWorkflowList", "portalRunIdList", "portalRunIdExclusionList"):
        if a[name] and not secondary:
            errors[name] = [
                "Only used for secondary analysis; add SecondaryAnalysis to dataTypeList."
            ]
    both = sorted(set(a["portalRunIdList"]) & set(a["portalRunIdExclusionList"]))
    if both:
        errors["portalRunIdExclusionList"] = [
            f"{', '.join(both)} also in portalRunIdList; a run cannot be shared and excluded."
        ]
    if fastq and not given and not a["instrumentRunIdList"]:
        errors.setdefault("dataTypeList", []).append(
            f"Fastq sharing needs one of {METADATA_HELP}, or instrumentRunIdList."
        )
    if secondary and not given and not a["portalRunIdList"]:
        errors.setdefault("dataTypeList", []).append(
            f"SecondaryAnalysis sharing needs portalRunIdList or one of {METADATA_HELP} "
            "to find workflow runs."
        )
    return errors


def _check_destination(a: dict) -> Errors:
    if a["shareType"] == ShareType.PULL:
        if a["shareDestination"]:
            return {
                "shareDestination": [
                    "A pull shares through download links and takes no destination; remove "
                    "it, or use shareType push."
                ]
            }
        if a["shareLinkExpiryDays"] and not settings.PUBLIC_BASE_URL:
            return {
                "shareLinkExpiryDays": [
                    "This service hands out presigned links, not share links (PUBLIC_BASE_URL "
                    "is not set): leave the field out."
                ]
            }
        return {}
    if a["shareLinkExpiryDays"]:
        return {
            "shareLinkExpiryDays": [
                "Only for a pull's share link; a push copies the data and has none: leave the "
                "field out."
            ]
        }
    if not a["shareDestination"]:
        return {
            "shareDestination": [
                "Required for a push: give s3://bucket/prefix/ or icav2://project/path/."
            ]
        }
    try:
        a["shareDestination"] = str(parse_destination(a["shareDestination"]))
    except DjangoValidationError as error:
        return {"shareDestination": error.messages}
    return {}


def _check_recipient(a: dict) -> Errors:
    """The named recipient exists, is active and may receive a push at its destination; with
    SHARE_REQUIRES_RECIPIENT every share names a recipient and a purpose."""
    errors: Errors = {}
    if settings.SHARE_REQUIRES_RECIPIENT:
        for name, what in (("recipientId", "recipient"), ("purpose", "purpose")):
            if not a[name]:
                errors[name] = [
                    f"Required here (SHARE_REQUIRES_RECIPIENT): every share names its {what}."
                ]
    if a["onlyNewSinceLastShare"] and not a["recipientId"]:
        errors["onlyNewSinceLastShare"] = [
            "Needs recipientId: what is new is counted per recipient."
        ]
    if not a["recipientId"]:
        return errors
    recipient = Recipient.objects.filter(recipient_id=a["recipientId"]).first()
    if recipient is None or not recipient.active:
        state = "Unknown" if recipient is None else "Inactive"
        errors["recipientId"] = [
            f"{state} recipient {a['recipientId']!r}; name an active one (see /api/v1/recipients)."
        ]
    elif a["shareType"] == ShareType.PUSH and not recipient.may_receive_at(a["shareDestination"]):
        allowed = ", ".join(recipient.allowed_destinations) or "none (no push to them)"
        errors["shareDestination"] = [
            f"{recipient.recipient_id} may receive pushes only under: {allowed}. Choose a "
            "destination there, or ask an operator to add it to the recipient."
        ]
    return errors


# field -> (model, lookup, what the ids are, where to look them up)
_CATALOGUE_IDS: dict[str, tuple[type[models.Model], str, str, str]] = {
    "libraryIdList": (Library, "library_id", "library ids", "/api/v1/libraries"),
    "subjectIdList": (
        Library,
        "subject__subject_id",
        "subject ids (or subjects without libraries)",
        "/api/v1/libraries?subjectId=...",
    ),
    "individualIdList": (
        Library,
        "subject__individuals__individual_id",
        "individual ids (or individuals without libraries)",
        "/api/v1/libraries?individualId=...",
    ),
    "projectIdList": (
        Library,
        "projects__project_id",
        "project ids (or projects without libraries)",
        "/api/v1/libraries?projectId=...",
    ),
    "instrumentRunIdList": (
        Fastq,
        "instrument_run_id",
        "instrument run ids (no fastqs in the catalogue)",
        "/api/v1/fastqs",
    ),
    "portalRunIdList": (WorkflowRun, "portal_run_id", "portal run ids", "/api/v1/workflow-runs"),
    "portalRunIdExclusionList": (
        WorkflowRun,
        "portal_run_id",
        "portal run ids",
        "/api/v1/workflow-runs",
    ),
}


def _check_ids_exist(a: dict) -> Errors:
    """One query per list given, whatever its length; every unknown id is listed."""
    errors: Errors = {}
    for name, (model, lookup, what, where) in _CATALOGUE_IDS.items():
        if a[name]:
            rows = model.objects.filter(**{f"{lookup}__in": a[name]})
            missing = sorted(set(a[name]) - set(rows.values_list(lookup, flat=True)))
            if missing:
                errors[name] = [f"Unknown {what}: {', '.join(missing)}. See {where}."]
    if a["portalRunIdList"]:
        unfinished = WorkflowRun.objects.filter(portal_run_id__in=a["portalRunIdList"]).exclude(
            status=WorkflowRun.Status.SUCCEEDED
        )
        if unfinished:
            listed = ", ".join(f"{run.portal_run_id} ({run.status})" for run in unfinished)
            errors.setdefault("portalRunIdList", []).append(
                f"Only successful workflow runs can be shared: {listed}. Remove them."
            )
    return errors


def _check_selection(a: dict) -> Errors:
    selection = select(a)
    errors: Errors = {}
    if FASTQ in a["dataTypeList"] and not selection.fastqs.exists():
        errors.setdefault("dataTypeList", []).append(
            "Fastq was asked for, but no fastq matches the selection; check the ids "
            "(and instrumentRunIdList, which intersects with them)."
        )
    if SECONDARY in a["dataTypeList"] and not selection.workflow_runs.exists():
        errors.setdefault("dataTypeList", []).append(
            "SecondaryAnalysis was asked for, but no successful workflow run matches the "
            "selection; check the ids, secondaryAnalysisWorkflowList and "
            "portalRunIdExclusionList."
        )
    return errors
