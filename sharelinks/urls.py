from django.urls import path

from sharelinks import views

# The token is any text up to the next slash: a malformed one is looked up like any other.
urlpatterns = [
    path("s/<str:token>/", views.LinkStateView.as_view(), name="sharelink-state"),
    path("s/<str:token>/data-download.sh", views.ScriptView.as_view(), name="sharelink-script"),
    path(
        "s/<str:token>/files/<int:position>", views.SharedFileView.as_view(), name="sharelink-file"
    ),
    path("s/<str:token>/receipt", views.ReceiptView.as_view(), name="sharelink-receipt"),
    path("s/<str:token>/<str:name>", views.ShareFileView.as_view(), name="sharelink-share-file"),
]
