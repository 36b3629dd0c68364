from __future__ import annotations

from rest_framework.permissions import BasePermission

# action -> the permission it needs; group membership (sharing_project.roles) grants them.
_REQUIRED = {
    "create": "jobs.launch_job",
    "abort": "jobs.abort_job",
    "rerun": "jobs.launch_job",
    "new_links": "jobs.launch_job",
    "revoke": "sharelinks.revoke_sharelink",
    "downloads": "sharelinks.view_shareaccess",
    "access_log_export": "sharelinks.view_shareaccess",
}


class JobPermission(BasePermission):
    """Everyone who may look at jobs can read them; only operators launch, abort and revoke."""

    message = (
        "Only operators may launch or abort shares, or revoke share links; ask for the "
        "operators group."
    )

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        needed = _REQUIRED.get(view.action, "jobs.view_job")
        if needed == "jobs.view_job":
            self.message = "You may not view jobs; ask for the viewers or operators group."
        elif ".view_" in needed:
            self.message = (
                "You may not view what was downloaded; ask for the viewers or operators group."
            )
        return user.has_perm(needed)
