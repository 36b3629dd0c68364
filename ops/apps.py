from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Health, metrics and logs for the machines that run the service (docs/operations.md)."""

    name = "ops"
    verbose_name = "Operations"
