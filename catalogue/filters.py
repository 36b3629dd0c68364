"""Query filters of the catalogue API; parameters are camelCase, lists are comma-separated."""

from __future__ import annotations

import django_filters as filters
from django.db.models import Q, QuerySet

from catalogue.models import Fastq, Library, WorkflowRun
from catalogue.workflows import accepted_workflow_names, canonical_workflow
from sharing_project.filters import CharInFilter, IntegerFilter, StrictFilterSet
from sharing_project.s3.uris import ARCHIVED_STORAGE_CLASSES, STORAGE_CLASSES


class LibraryFilter(StrictFilterSet):
    libraryId = CharInFilter(field_name="library_id", help_text="comma-separated library ids")
    projectId = CharInFilter(field_name="projects__project_id", distinct=True)
    subjectId = CharInFilter(field_name="subject__subject_id")
    individualId = CharInFilter(field_name="subject__individuals__individual_id", distinct=True)
    sampleId = CharInFilter(field_name="sample__sample_id")
    phenotype = filters.ChoiceFilter(choices=Library.Phenotype.choices)
    type = filters.ChoiceFilter(choices=Library.Type.choices)
    workflow = filters.ChoiceFilter(choices=Library.WorkflowKind.choices)
    quality = filters.ChoiceFilter(choices=Library.Quality.choices)
    assay = filters.CharFilter()

    class Meta:
        model = Library
        fields: list[str] = []


class FastqFilter(StrictFilterSet):
    libraryId = CharInFilter(field_name="library__library_id")
    instrumentRunId = CharInFilter(field_name="instrument_run_id")
    lane = IntegerFilter()
    storageClass = filters.ChoiceFilter(
        choices=[(c, c) for c in STORAGE_CLASSES],
        method="filter_storage_class",
        help_text="fastq rows with R1 or R2 in this storage class",
    )
    archived = filters.BooleanFilter(method="filter_archived")

    class Meta:
        model = Fastq
        fields: list[str] = []

    def filter_storage_class(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(Q(r1_storage_class=value) | Q(r2_storage_class=value))

    def filter_archived(self, queryset: QuerySet, name: str, value: bool) -> QuerySet:
        archived = Q(r1_storage_class__in=ARCHIVED_STORAGE_CLASSES) | Q(
            r2_storage_class__in=ARCHIVED_STORAGE_CLASSES
        )
        return queryset.filter(archived) if value else queryset.exclude(archived)


class WorkflowRunFilter(StrictFilterSet):
    portalRunId = CharInFilter(field_name="portal_run_id")
    workflowName = filters.ChoiceFilter(
        choices=[(name, name) for name in accepted_workflow_names()],
        method="filter_workflow",
        help_text="a workflow name or alias",
    )
    libraryId = CharInFilter(field_name="libraries__library_id", distinct=True)
    status = filters.ChoiceFilter(choices=WorkflowRun.Status.choices)

    class Meta:
        model = WorkflowRun
        fields: list[str] = []

    def filter_workflow(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(workflow_name=canonical_workflow(value))
