from django.contrib import admin

from jobs.models import Job, JobLogLine, JobObject


class JobLogLineInline(admin.TabularInline):
    model = JobLogLine
    fields = ["at", "level", "message"]
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    """Read-only: jobs change only through the service functions."""

    list_display = [
        "id",
        "status",
        "share_type",
        "dryrun",
        "destination",
        "objects_total",
        "bytes_total",
        "created_by",
        "created_at",
    ]
    list_filter = ["status", "share_type", "dryrun", "created_at"]
    search_fields = ["id", "destination", "job_objects__library_id", "job_objects__portal_run_id"]
    date_hierarchy = "created_at"
    inlines = [JobLogLineInline]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(JobObject)
class JobObjectAdmin(admin.ModelAdmin):
    list_display = ["relative_path", "job", "kind", "size", "storage_class", "archived", "status"]
    list_filter = ["kind", "status", "archived"]
    search_fields = ["relative_path", "source_uri", "library_id", "portal_run_id"]
    list_select_related = ["job"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
