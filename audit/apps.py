from django.apps import AppConfig


class AuditConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "audit"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        from auditlog.models import LogEntry
        from auditlog.registry import auditlog
        from auditlog.signals import post_log
        from django.db.models.signals import pre_save
        from django_q.signals import post_execute_in_worker, pre_execute

        from audit import context, services
        from recipients.models import EDITABLE_FIELDS, Recipient

        # django-auditlog tracks a recipient's changes to the fields operators edit.
        auditlog.register(Recipient, include_fields=EDITABLE_FIELDS)

        # A worker's task acts as the worker (audit.context): set and reset around each task.
        pre_execute.connect(context.worker_task_started, dispatch_uid="audit.worker_started")
        post_execute_in_worker.connect(context.worker_task_ended, dispatch_uid="audit.worker_ended")
        # django-auditlog's entry for a recipient's change: our actor and address, then a copy
        # in the trail.
        pre_save.connect(context.fill_log_entry, sender=LogEntry, dispatch_uid="audit.log_entry")
        post_log.connect(services.record_logged_change, dispatch_uid="audit.logged_change")
