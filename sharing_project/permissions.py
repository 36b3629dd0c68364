from __future__ import annotations

from rest_framework.permissions import DjangoModelPermissions


class CanViewModel(DjangoModelPermissions):
    """Reading needs the model's view permission (the viewers and operators groups hold it);
    an authenticated user outside both groups sees nothing."""

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
    }
