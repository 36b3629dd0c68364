from __future__ import annotations

import django_filters as filters

from jobs.models import JobObject
from sharelinks.downloads import fetched_filter
from sharing_project.filters import StrictFilterSet


class DownloadFilter(StrictFilterSet):
    """A job's objects by whether its share link served them (GET .../downloads)."""

    fetched = filters.BooleanFilter(method="by_fetched")

    class Meta:
        model = JobObject
        fields: list[str] = []

    def by_fetched(self, queryset, name: str, value: bool):
        return fetched_filter(queryset, value)
