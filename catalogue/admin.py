from django.contrib import admin

from catalogue.models import (
    Fastq,
    Individual,
    Library,
    Project,
    Sample,
    Subject,
    WorkflowRun,
)
from sharing_project.s3.uris import ARCHIVED_STORAGE_CLASSES


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["project_id", "name"]
    search_fields = ["project_id", "name"]


@admin.register(Individual)
class IndividualAdmin(admin.ModelAdmin):
    list_display = ["individual_id", "source"]
    search_fields = ["individual_id"]


@admin.register(Subject)
class SubjectAdmin(admin.ModelAdmin):
    list_display = ["subject_id"]
    search_fields = ["subject_id", "individuals__individual_id"]
    filter_horizontal = ["individuals"]


@admin.register(Sample)
class SampleAdmin(admin.ModelAdmin):
    list_display = ["sample_id", "external_sample_id", "source"]
    list_filter = ["source"]
    search_fields = ["sample_id", "external_sample_id"]


class FastqInline(admin.TabularInline):
    model = Fastq
    fields = ["instrument_run_id", "lane", "r1_uri", "r1_size", "r1_storage_class"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True


@admin.register(Library)
class LibraryAdmin(admin.ModelAdmin):
    list_display = ["library_id", "phenotype", "type", "assay", "workflow", "quality", "subject"]
    list_filter = ["phenotype", "type", "workflow", "quality", "projects"]
    search_fields = [
        "library_id",
        "sample__sample_id",
        "sample__external_sample_id",
        "subject__subject_id",
        "subject__individuals__individual_id",
        "projects__project_id",
    ]
    list_select_related = ["subject"]
    autocomplete_fields = ["sample", "subject"]
    filter_horizontal = ["projects"]
    inlines = [FastqInline]


class ArchivedFilter(admin.SimpleListFilter):
    title = "archived"
    parameter_name = "archived"

    def lookups(self, request, model_admin):
        return [("yes", "Archived"), ("no", "Readable")]

    def queryset(self, request, queryset):
        archived = queryset.filter(r1_storage_class__in=ARCHIVED_STORAGE_CLASSES) | queryset.filter(
            r2_storage_class__in=ARCHIVED_STORAGE_CLASSES
        )
        if self.value() == "yes":
            return archived
        if self.value() == "no":
            return queryset.exclude(pk__in=archived.values("pk"))
        return queryset


@admin.register(Fastq)
class FastqAdmin(admin.ModelAdmin):
    list_display = [
        "library",
        "instrument_run_id",
        "lane",
        "compression",
        "r1_size",
        "r1_storage_class",
    ]
    list_filter = ["instrument_run_id", "lane", "compression", "r1_storage_class", ArchivedFilter]
    search_fields = ["library__library_id", "instrument_run_id", "r1_uri", "r2_uri"]
    list_select_related = ["library"]
    autocomplete_fields = ["library"]


@admin.register(WorkflowRun)
class WorkflowRunAdmin(admin.ModelAdmin):
    list_display = ["portal_run_id", "workflow_name", "status", "start_time", "end_time"]
    list_filter = ["workflow_name", "status"]
    search_fields = ["portal_run_id", "libraries__library_id", "output_uri"]
    date_hierarchy = "start_time"
    filter_horizontal = ["libraries"]
