from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from audit.context import ActsFromCommandLine
from jobs import cli
from sharelinks.downloads import download_counts
from sharelinks.serializers import RevokeSerializer
from sharelinks.services import revoke_job_link
from sharing_project.errors import LaunchRefused


class Command(ActsFromCommandLine, BaseCommand):
    help = (
        "Revoke a pull's share link: every later request with it is refused (403 with the "
        "custodian's message) and the download script stops. Exit 1 for a job without a link "
        "or one revoked already."
    )

    def add_arguments(self, parser):
        parser.add_argument("job_id", metavar="JOB_ID", help="the pull's job id (a UUID)")
        parser.add_argument(
            "--reason",
            metavar="TEXT",
            help="why (required): kept in the audit trail and the job's log",
        )
        parser.add_argument(
            "--user",
            metavar="USERNAME",
            help=f"who revokes (an operator); default: ${cli.USER_ENV}",
        )

    def handle(self, *args, job_id: str, **options):
        cli.parse_job_id(job_id)
        given = options["reason"]
        body = RevokeSerializer(data={} if given is None else {"reason": given})
        if not body.is_valid():
            raise CommandError(f"--reason: {body.errors['reason'][0]}")
        user = cli.acting_user(options["user"], "sharelinks.revoke_sharelink", "revoke share links")
        try:
            link = revoke_job_link(cli.get_job(job_id), user, body.validated_data["reason"])
        except LaunchRefused as refusal:
            raise CommandError(refusal.message) from None
        counts = download_counts(link)
        self.stdout.write(
            f"Revoked the share link of job {link.job_id} at {link.revoked_at:%Y-%m-%d %H:%M:%S} "
            f"UTC: every later request with it is refused.\n"
            f"Downloads before: {counts.files_fetched} of {counts.files_total} file(s) fetched, "
            f"{counts.requests} request(s), {counts.refused} refused."
        )
