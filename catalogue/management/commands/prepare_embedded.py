from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from catalogue.demo import seed_demo
from recipients.demo import seed_demo_recipient
from sharing_project.env import raw
from sharing_project.roles import OPERATORS, ensure_groups
from sharing_project.s3.objects import ensure_bucket

DEMO_DESTINATION_BUCKET = "collaborator-bucket"


class Command(BaseCommand):
    help = (
        "Prepare the embedded run: the sharing bucket, the roles, the demo catalogue, its "
        "objects and its recipient, and a demo operator (DSM_DEMO_USER / DSM_DEMO_PASSWORD, "
        "else generated)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--no-demo", action="store_true", help="do not seed demo data")

    def handle(self, *args, no_demo: bool = False, **options):
        ensure_bucket(settings.SHARING_BUCKET)
        if not no_demo:
            # A bucket to push demo shares into, standing for a collaborator's.
            ensure_bucket(DEMO_DESTINATION_BUCKET)
        groups = ensure_groups()
        if not no_demo:
            result = seed_demo()
            seed_demo_recipient()
            self.stdout.write(
                f"Demo data: {result.objects} objects in s3://{settings.DEMO_BUCKET}/"
            )
        username, password = self._demo_operator(groups[OPERATORS])
        self.stdout.write(f"DEMO_USER={username}")
        self.stdout.write(f"DEMO_PASSWORD={password}")

    def _demo_operator(self, group) -> tuple[str, str]:
        """Create the operator once; keep its password in the data folder unless one is given."""
        username = raw("DSM_DEMO_USER") or "operator"
        password = raw("DSM_DEMO_PASSWORD")
        password_file = settings.DATA_DIR / "demo_operator_password"
        if password is None:
            if not password_file.exists():
                password_file.write_text(secrets.token_urlsafe(12))
                password_file.chmod(0o600)
            password = password_file.read_text().strip()
        user, _ = get_user_model().objects.get_or_create(username=username)
        user.is_staff = True
        user.is_superuser = True
        if not user.check_password(password):
            user.set_password(password)
        user.save()
        user.groups.add(group)
        return username, password
