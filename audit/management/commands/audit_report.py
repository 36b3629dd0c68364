from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.http import QueryDict

from audit.export import export_lines, in_time_order
from audit.filters import AuditEventFilter
from audit.models import AuditAction, AuditEvent
from recipients.models import Recipient

# option -> the API's filter of the same meaning
FILTERS = {
    "recipient": "recipientId",
    "user": "user",
    "job": "jobId",
    "since": "since",
    "until": "until",
}
DATE_HELP = "a date (YYYY-MM-DD, its midnight) or an ISO 8601 time (2026-12-03T09:30:00Z)"
# (heading, width) of the table's columns; the last takes what is left
TABLE = [
    ("at (UTC)", 19),
    ("action", 17),
    ("who", 30),
    ("job", 8),
    ("recipient", 16),
    ("purpose", 20),
    ("address", 15),
    ("facts", 0),
]


class Command(BaseCommand):
    help = (
        "The audit trail's events, oldest first, filtered as GET /api/v1/audit-events filters "
        "them: by recipient, user, job, action and time. See docs/audit.md."
    )

    def add_arguments(self, parser):
        parser.add_argument("--recipient", metavar="ID", help="a recipient's id (recipientId)")
        parser.add_argument("--user", metavar="USERNAME", help="events of this user")
        parser.add_argument("--job", metavar="JOB_ID", help="events of this job")
        parser.add_argument(
            "--action",
            action="append",
            choices=AuditAction.values,
            metavar="ACTION",
            help=f"repeatable: {', '.join(AuditAction.values)}",
        )
        parser.add_argument("--since", metavar="DATE", help=f"events at or after: {DATE_HELP}")
        parser.add_argument(
            "--until",
            metavar="DATE",
            help="events before this time (a date is its midnight: --until 2026-12-04 ends "
            "with 3 December)",
        )
        parser.add_argument(
            "--format",
            choices=["table", "csv", "json"],
            default="table",
            help="table (default, for people), csv or json (every field, as the API exports)",
        )

    def handle(self, *args, **options):
        events = chosen_events(options)
        if options["format"] == "table":
            self.write_table(events)
        else:
            for chunk in export_lines(events, options["format"]):
                self.stdout.write(chunk, ending="")

    def write_table(self, events) -> None:
        self.stdout.write(table_line([heading for heading, _ in TABLE]))
        count = 0
        for event in in_time_order(events).iterator(chunk_size=1000):
            self.stdout.write(table_line(table_cells(event)))
            count += 1
        self.stdout.write(f"{count} event(s)")


def chosen_events(options: dict):
    """The events the options select, by the API's own filters; a CommandError that names the
    option for anything it cannot use."""
    check_names(options)
    data = QueryDict(mutable=True)
    for option, name in FILTERS.items():
        if options.get(option) is not None:
            data[name] = options[option]
    for action in options.get("action") or []:
        data.appendlist("action", action)
    chosen = AuditEventFilter(data, queryset=AuditEvent.objects.all())
    if not chosen.is_valid():
        raise CommandError("\n".join(option_problems(chosen.errors)))
    return chosen.qs


def check_names(options: dict) -> None:
    recipient, username = options.get("recipient"), options.get("user")
    if recipient is not None and not Recipient.objects.filter(recipient_id=recipient).exists():
        raise CommandError(
            f"--recipient: no recipient {recipient!r}; list them at /api/v1/recipients or in the "
            "console."
        )
    if username is not None and not get_user_model().objects.filter(username=username).exists():
        raise CommandError(f"--user: no user {username!r}.")


def option_problems(errors: dict) -> list[str]:
    """The filters' messages, each naming its option."""
    options = {name: option for option, name in FILTERS.items()}
    return [
        f"--{options.get(name, name)}: {message}"
        for name, messages in errors.items()
        for message in messages
    ]


def table_cells(event: AuditEvent) -> list[str]:
    return [
        f"{event.at:%Y-%m-%d %H:%M:%S}",
        event.action,
        f"{event.actor_name} ({event.actor_kind})",
        str(event.job_id)[:8] if event.job_id else "-",
        event.recipient.recipient_id if event.recipient else "-",
        event.purpose or "-",
        event.client_address or "-",
        event.summary or "-",
    ]


def table_line(cells: list[str]) -> str:
    parts = []
    for text, (_heading, width) in zip(cells, TABLE, strict=True):
        if width and len(text) > width:
            text = text[: width - 1] + "…"
        parts.append(text.ljust(width) if width else text)
    return "  ".join(parts).rstrip()
