"""The launch contract, written once: its fields, their vocabularies, and how each is asked for.

The API's serializer (`shares.validation.LaunchSerializer`), the console's share form
(`jobs.forms.ShareForm`) and the command line's options (`manage.py share`, `jobs.cli`) are all
derived from `LAUNCH_FIELDS`; a new field is added here and nowhere else.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import models

from catalogue import ids
from catalogue.workflows import Workflow


class ShareType(models.TextChoices):
    PUSH = "push"
    PULL = "pull"


class DataType(models.TextChoices):
    FASTQ = "Fastq", "Fastq"
    SECONDARY_ANALYSIS = "SecondaryAnalysis", "Secondary analysis"


# How each share type is offered to an operator.
SHARE_TYPE_LABELS = {
    ShareType.PULL: "pull: download links",
    ShareType.PUSH: "push: copy to a destination",
}
METADATA_LISTS = ("libraryIdList", "subjectIdList", "individualIdList", "projectIdList")
# The upstream OrcaBus service's spelling, accepted as a synonym.
SYNONYMS = {"secondaryAnalysisTypeList": "secondaryAnalysisWorkflowList"}


class Kind(enum.Enum):
    IDS = "a list of ids"
    CHOICES = "a list of names from a vocabulary"
    CHOICE = "one name from a vocabulary"
    FLAG = "true or false"
    TEXT = "text"


class Section(enum.StrEnum):
    """Where the console's form shows a field (dryrun is its buttons, not a field)."""

    WHAT = "What to share"
    SECONDARY = "Secondary analysis"
    WHO = "For whom, and why"
    HOW = "How"
    NONE = ""


@dataclass(frozen=True)
class LaunchField:
    name: str  # as the API spells it
    kind: Kind
    label: str  # the console's label
    option: str  # the command line's option, without its dashes
    help: str
    section: Section
    validator: Callable[[str], None] | None = None  # each id of an id list
    choices: tuple[tuple[str, str], ...] = ()  # (value, label)
    required: bool = False
    messages: dict[str, str] = field(default_factory=dict)  # the API's own error messages
    default: str = ""  # a text field's value when it is not given
    placeholder: str = ""  # the console's hint inside a text box
    metavar: str = "TEXT"  # the command line's name for a text field's value
    # False for the fields added after the seed's: at their default they are left out of the
    # stored configuration, so a configuration that never names them keeps its fingerprint.
    stored_at_default: bool = True
    # A text field the console offers as a choice among these (value, label) pairs.
    choices_from: Callable[[], list[tuple[str, str]]] | None = None

    @property
    def is_list(self) -> bool:
        return self.kind in (Kind.IDS, Kind.CHOICES)


def _ids(name: str, label: str, option: str, validator, help: str, section=Section.WHAT):
    return LaunchField(name, Kind.IDS, label, option, help, section, validator=validator)


_ONE_METADATA = "Give one of projects, subjects, individuals or libraries."

PRIMARY_PREFIX_DEFAULT = "fastq"
SECONDARY_PREFIX_DEFAULT = "secondary-analysis"


def _prefix(name: str, label: str, option: str, default: str, what: str) -> LaunchField:
    return LaunchField(
        name,
        Kind.TEXT,
        label,
        option,
        f"Folder of {what} at the destination and in the download, a relative path; "
        f"default {default}.",
        Section.HOW,
        default=default,
        placeholder=default,
        metavar="FOLDER",
        stored_at_default=False,
    )


def _recipient_choices() -> list[tuple[str, str]]:
    from recipients.models import Recipient

    return [(r.recipient_id, str(r)) for r in Recipient.objects.active()]


LAUNCH_FIELDS: tuple[LaunchField, ...] = (
    _ids("projectIdList", "Projects", "project-id", ids.validate_project_id, _ONE_METADATA),
    _ids("subjectIdList", "Subjects", "subject-id", ids.validate_subject_id, _ONE_METADATA),
    _ids(
        "individualIdList",
        "Individuals",
        "individual-id",
        ids.validate_individual_id,
        _ONE_METADATA,
    ),
    _ids("libraryIdList", "Libraries", "library-id", ids.validate_library_id, _ONE_METADATA),
    _ids(
        "instrumentRunIdList",
        "Instrument runs",
        "instrument-run-id",
        ids.validate_instrument_run_id,
        "Fastq only. With a metadata list, only their fastqs on these runs.",
    ),
    LaunchField(
        "dataTypeList",
        Kind.CHOICES,
        "Data types",
        "data-type",
        "Required: Fastq and/or SecondaryAnalysis.",
        Section.WHAT,
        choices=tuple(DataType.choices),
        required=True,
        messages={
            "required": "This field is required: Fastq and/or SecondaryAnalysis.",
            "empty": "This list may not be empty: choose Fastq and/or SecondaryAnalysis.",
        },
    ),
    LaunchField(
        "defrostArchivedFastqs",
        Kind.FLAG,
        "Defrost archived fastqs",
        "defrost-archived-fastqs",
        "Request the restore of archived fastqs; the job fails until they are back.",
        Section.WHAT,
    ),
    LaunchField(
        "secondaryAnalysisWorkflowList",
        Kind.CHOICES,
        "Workflows",
        "workflow",
        "Workflow names or aliases; none given: every workflow.",
        Section.SECONDARY,
        choices=tuple(Workflow.choices),
    ),
    _ids(
        "portalRunIdList",
        "Portal runs",
        "portal-run-id",
        ids.validate_portal_run_id,
        "Secondary analysis: exactly these runs, whatever else is chosen.",
        Section.SECONDARY,
    ),
    _ids(
        "portalRunIdExclusionList",
        "Portal runs to exclude",
        "exclude-portal-run-id",
        ids.validate_portal_run_id,
        "Removed from the runs found through metadata and workflows.",
        Section.SECONDARY,
    ),
    LaunchField(
        "shareType",
        Kind.CHOICE,
        "Share type",
        "share-type",
        "Required: push (copy to a destination) or pull (download links).",
        Section.HOW,
        choices=tuple(SHARE_TYPE_LABELS.items()),
        required=True,
        messages={
            "required": "This field is required: push (copy to a destination) or pull (links).",
            "invalid_choice": '"{input}" is not a valid choice; use push or pull.',
        },
    ),
    LaunchField(
        "shareDestination",
        Kind.TEXT,
        "Destination",
        "share-destination",
        "Push only: s3://bucket/prefix/ or icav2://project/path/.",
        Section.HOW,
        placeholder="s3://bucket/prefix/",
        metavar="URI",
    ),
    LaunchField(
        "recipientId",
        Kind.TEXT,
        "Recipient",
        "recipient-id",
        "The collaborator receiving the share (see Recipients); a push must go to one of "
        "their allowed destinations.",
        Section.WHO,
        stored_at_default=False,
        metavar="ID",
        choices_from=lambda: _recipient_choices(),
    ),
    LaunchField(
        "purpose",
        Kind.TEXT,
        "Purpose",
        "purpose",
        "Why the data is shared: an ethics approval or data-access agreement reference.",
        Section.WHO,
        placeholder="e.g. HREC 2024/123, DAA-0042",
        stored_at_default=False,
    ),
    LaunchField(
        "onlyNewSinceLastShare",
        Kind.FLAG,
        "Only what the recipient has not received",
        "only-new-since-last-share",
        "Leave out objects an earlier successful share already gave this recipient "
        "(needs a recipient).",
        Section.WHO,
        stored_at_default=False,
    ),
    LaunchField(
        "shareLinkExpiryDays",
        Kind.TEXT,
        "Share link lifetime (days)",
        "share-link-expiry-days",
        "Pull only, when the service hands out share links (PUBLIC_BASE_URL): days the link "
        "stays valid unless revoked; default SHARE_LINK_DEFAULT_DAYS (30).",
        Section.HOW,
        placeholder="30",
        metavar="DAYS",
        stored_at_default=False,
    ),
    _prefix(
        "primaryDataPathPrefix",
        "Fastq folder",
        "primary-data-path-prefix",
        PRIMARY_PREFIX_DEFAULT,
        "the fastqs",
    ),
    _prefix(
        "secondaryAnalysisPathPrefix",
        "Secondary analysis folder",
        "secondary-analysis-path-prefix",
        SECONDARY_PREFIX_DEFAULT,
        "the workflow outputs",
    ),
    LaunchField(
        "dryrun",
        Kind.FLAG,
        "Dry run",
        "dryrun",
        "List what would be shared, send nothing (a push needs one first).",
        Section.NONE,
    ),
)

FIELDS_BY_NAME: dict[str, LaunchField] = {f.name: f for f in LAUNCH_FIELDS}


def stored_config(validated: dict) -> dict:
    """The configuration as stored and fingerprinted: every field but `dryrun`, the fields added
    after the seed's left out at their default value."""
    config = {}
    for name, value in validated.items():
        spec = FIELDS_BY_NAME[name]
        if name == "dryrun" or (not spec.stored_at_default and value == _default(spec)):
            continue
        config[name] = value
    return config


def _default(spec: LaunchField) -> object:
    return False if spec.kind is Kind.FLAG else spec.default


def path_prefixes(config: dict) -> tuple[str, str]:
    """The folders of fastqs and of workflow outputs at the destination."""
    return (
        config.get("primaryDataPathPrefix", PRIMARY_PREFIX_DEFAULT),
        config.get("secondaryAnalysisPathPrefix", SECONDARY_PREFIX_DEFAULT),
    )
