from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from jobs.models import job_ended
        from notifications.services import queue_notifications

        # A job that reaches a final status queues one notification task, once committed.
        job_ended.connect(queue_notifications, dispatch_uid="notifications.queue")
