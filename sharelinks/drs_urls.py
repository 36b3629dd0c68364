from django.urls import path

from sharelinks import drs

# GA4GH DRS 1.2 on the share links (sharelinks/drs.py, docs/drs.md).
urlpatterns = [
    path("service-info", drs.ServiceInfoView.as_view(), name="drs-service-info"),
    path("objects/<str:object_id>", drs.DrsObjectView.as_view(), name="drs-object"),
    path(
        "objects/<str:object_id>/access/<str:access_id>",
        drs.DrsAccessView.as_view(),
        name="drs-access",
    ),
]
