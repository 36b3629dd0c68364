"""The two kinds of staff user: operators (may launch, abort and revoke shares) and viewers (look
only).

Membership of a group is what grants the role; `ensure_groups` keeps each group's permissions
in step with the code and is safe to run at every start.
"""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission

OPERATORS = "operators"
VIEWERS = "viewers"

_CATALOGUE_VIEW = [
    "view_project",
    "view_individual",
    "view_subject",
    "view_sample",
    "view_library",
    "view_fastq",
    "view_workflowrun",
]
_RECIPIENTS_VIEW = ["view_recipient"]
# Email records and webhook deliveries (docs/notifications.md); the hooks themselves, whose
# pages show their secrets, are for operators only.
_NOTIFICATIONS_VIEW = ["view_emailnotification", "view_webhookdelivery"]
_WEBHOOKS_MANAGE = ["add_webhook", "change_webhook", "view_webhook"]
_AUDIT_VIEW = ["view_auditevent"]
_JOBS_VIEW = ["view_job", "view_jobobject", "view_joblogline", "view_sharerequest", "view_dryrun"]
# A pull's share link, its access log and receipts: what was downloaded (docs/operator-guide.md).
_SHARELINKS_VIEW = ["view_sharelink", "view_shareaccess", "view_receipt"]
GROUP_PERMISSIONS: dict[str, list[str]] = {
    VIEWERS: _CATALOGUE_VIEW
    + _JOBS_VIEW
    + _SHARELINKS_VIEW
    + _RECIPIENTS_VIEW
    + _NOTIFICATIONS_VIEW
    + _AUDIT_VIEW,
    OPERATORS: _CATALOGUE_VIEW
    + _JOBS_VIEW
    + _SHARELINKS_VIEW
    + _RECIPIENTS_VIEW
    + _NOTIFICATIONS_VIEW
    + _AUDIT_VIEW
    + _WEBHOOKS_MANAGE
    + ["launch_job", "abort_job", "revoke_sharelink", "add_recipient", "change_recipient"],
}


def ensure_groups() -> dict[str, Group]:
    groups = {}
    for name, codenames in GROUP_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(Permission.objects.filter(codename__in=codenames))
        groups[name] = group
    return groups
