from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _after_migrate(**kwargs) -> None:
    """Keep the roles' permissions and the sweeper's schedule in step with the code."""
    from django_q.models import Schedule

    from sharing_project.roles import ensure_groups

    ensure_groups()
    Schedule.objects.update_or_create(
        name="Resume pushes whose worker died",
        defaults={"func": "jobs.tasks.sweep", "schedule_type": Schedule.MINUTES, "minutes": 1},
    )


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Jobs"

    def ready(self) -> None:
        # After every migrate, the operators and viewers groups hold exactly their permissions.
        post_migrate.connect(_after_migrate, sender=self)
