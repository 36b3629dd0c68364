from django.apps import AppConfig


class SharelinksConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "sharelinks"
    verbose_name = "Share links"
