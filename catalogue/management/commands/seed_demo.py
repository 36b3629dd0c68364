from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from catalogue.demo import seed_demo
from recipients.demo import seed_demo_recipient
from sharing_project.errors import ImportRejected


class Command(BaseCommand):
    help = (
        "Create the demo catalogue and its recipient, and write its objects to S3 (safe to run "
        "again)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--bucket", help="bucket for the demo objects (default: DEMO_BUCKET)")

    def handle(self, *args, bucket: str | None = None, **options):
        try:
            result = seed_demo(bucket)
        except ImportRejected as error:
            raise CommandError(str(error)) from None
        for line in result.imports:
            self.stdout.write(str(line))
        recipient, created = seed_demo_recipient()
        self.stdout.write(
            f"Recipient {recipient.recipient_id}: {'created' if created else 'kept'}."
        )
        self.stdout.write(
            self.style.SUCCESS(f"{result.objects} demo objects ({result.bytes} bytes) in S3.")
        )
