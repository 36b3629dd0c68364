from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from audit.api import AuditEventViewSet
from catalogue.api import FastqViewSet, LibraryViewSet, WorkflowRunViewSet
from jobs.api import JobViewSet
from recipients.api import RecipientViewSet


class OptionalSlashRouter(SimpleRouter):
    """Paths as the API contract writes them (no trailing slash); a trailing slash works too."""

    def __init__(self) -> None:
        super().__init__()
        self.trailing_slash = "/?"


admin.site.site_header = "Data Sharing Manager"
admin.site.site_title = "Data Sharing Manager"
admin.site.index_title = "Operator's console"
# The job table and job page need the width more than a second copy of the index.
admin.site.enable_nav_sidebar = False

# The API docs page under the content security policy (settings.py): its script is served as a
# file of its own (the split view), and its template's inline <style> is allowed on it alone.
api_docs = csp_update({"style-src": ["'unsafe-inline'"]})(
    SpectacularSwaggerSplitView.as_view(url_name="schema")
)

router = OptionalSlashRouter()
router.register("libraries", LibraryViewSet, basename="library")
router.register("fastqs", FastqViewSet, basename="fastq")
router.register("workflow-runs", WorkflowRunViewSet, basename="workflow-run")
router.register("jobs", JobViewSet, basename="job")
router.register("recipients", RecipientViewSet, basename="recipient")
router.register("audit-events", AuditEventViewSet, basename="audit-event")

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("admin/", admin.site.urls),
    path("api/v1/", include(router.urls)),
    path("api/schema", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs", api_docs, name="swagger-ui"),
    # Share links: a pull's download endpoint (docs/pull.md)
    path("", include("sharelinks.urls")),
    # GA4GH DRS on the same shares, the token as bearer token (docs/drs.md)
    path("ga4gh/drs/v1/", include("sharelinks.drs_urls")),
    # /healthz, /readyz, /metrics (docs/operations.md)
    path("", include("ops.urls")),
]
