from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_groups(**kwargs) -> None:
    from sharing_project.roles import ensure_groups

    ensure_groups()


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Jobs"

    def ready(self) -> None:
        # After every migrate, the operators and viewers groups hold exactly their permissions.
        post_migrate.connect(_ensure_groups, sender=self)
