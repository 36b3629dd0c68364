"""The operators' and viewers' groups as a migration leaves them, before anyone touches them."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from sharing_project.roles import GROUP_PERMISSIONS

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("group", sorted(GROUP_PERMISSIONS))
def test_a_migrated_database_gives_each_group_every_permission_of_its_role(group):
    # The test database is made by migrate: the groups are what post_migrate left, with the
    # permissions of apps that come after jobs in INSTALLED_APPS (recipients, audit...) too.
    held = set(Group.objects.get(name=group).permissions.values_list("codename", flat=True))
    assert held == set(GROUP_PERMISSIONS[group])
