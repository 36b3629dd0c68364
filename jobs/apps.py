from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _after_migrate(app_config, **kwargs) -> None:
    """Keep the roles' permissions and the sweeper's schedule in step with the code (every
    minute, django-q2's finest step; the sweep makes itself due sooner, jobs.tasks.sweep).

    Run once, after the last app's migration: Django makes an app's permissions after its own
    migration, so only then do the apps after this one in INSTALLED_APPS have theirs (a test's
    flush sends the signal again for every app)."""
    from django.apps import apps
    from django_q.models import Schedule

    if app_config is not [c for c in apps.get_app_configs() if c.models_module][-1]:
        return

    from sharing_project.roles import ensure_groups

    ensure_groups()
    Schedule.objects.update_or_create(
        name="Resume pushes whose worker died",
        defaults={"func": "jobs.tasks.sweep", "schedule_type": Schedule.MINUTES, "minutes": 1},
    )


def _sweep_at_start(**kwargs) -> None:
    from jobs.tasks import sweep_at_start  # only in a worker: it loads boto3

    sweep_at_start(**kwargs)


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Jobs"

    def ready(self) -> None:
        from django_q.signals import post_spawn

        # After every migrate, the operators and viewers groups hold exactly their permissions.
        post_migrate.connect(_after_migrate, dispatch_uid="jobs.after_migrate")
        # A worker that starts queues a sweep (jobs.tasks.sweep_at_start).
        post_spawn.connect(_sweep_at_start, dispatch_uid="jobs.sweep_at_start")
