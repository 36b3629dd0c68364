from __future__ import annotations

import django_filters as filters

from jobs.models import AtDestination, Job, JobObject, JobStatus, ShareType
from shares.checksums import ChecksumSource
from sharing_project.filters import StrictFilterSet, UtcDateTimeFilter


class JobFilter(StrictFilterSet):
    status = filters.MultipleChoiceFilter(
        choices=JobStatus.choices,
        help_text="one or more statuses: repeated (?status=A&status=B) or comma-separated",
    )
    shareType = filters.ChoiceFilter(field_name="share_type", choices=ShareType.choices)
    dryrun = filters.BooleanFilter()
    createdAfter = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    createdBefore = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt")
    recipientId = filters.CharFilter(
        field_name="recipient__recipient_id", help_text="the shares to one recipient"
    )

    class Meta:
        model = Job
        fields: list[str] = []

    def __init__(self, data=None, *args, **kwargs):
        # ?status=FAILED,ABORTED means the same as ?status=FAILED&status=ABORTED; an empty
        # part stays, for StrictFilterSet to refuse.
        if data is not None and "status" in data:
            data = data.copy()
            parts = [p.strip() for value in data.getlist("status") for p in value.split(",")]
            data.setlist("status", parts)
        super().__init__(data, *args, **kwargs)


class JobObjectFilter(StrictFilterSet):
    kind = filters.ChoiceFilter(choices=JobObject.Kind.choices)
    status = filters.ChoiceFilter(choices=JobObject.Status.choices)
    archived = filters.BooleanFilter()
    libraryId = filters.CharFilter(field_name="library_id")
    portalRunId = filters.CharFilter(field_name="portal_run_id")
    atDestination = filters.ChoiceFilter(field_name="at_destination", choices=AtDestination.choices)
    checksumSource = filters.ChoiceFilter(
        field_name="checksum_source", choices=ChecksumSource.choices
    )

    class Meta:
        model = JobObject
        fields: list[str] = []
