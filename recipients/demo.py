"""The embedded run's recipient: a collaborator who may receive pushes in the demo's
collaborator bucket."""

from __future__ import annotations

from recipients.models import Recipient

DEMO_RECIPIENT_ID = "demo-collaborator"


def seed_demo_recipient() -> tuple[Recipient, bool]:
    """Create the demo recipient once; an operator's later edits are kept."""
    return Recipient.objects.get_or_create(
        recipient_id=DEMO_RECIPIENT_ID,
        defaults={
            "name": "Demo collaborator",
            "organisation": "A partner institute",
            "contact_emails": ["collaborator@example.org"],
            "allowed_destinations": ["s3://collaborator-bucket/"],
            "notes": "Made by seed_demo for trying shares out.",
        },
    )
