from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from audit.context import ActsFromCommandLine
from jobs import cli
from jobs.services import abort_job
from sharing_project.errors import LaunchRefused


class Command(ActsFromCommandLine, BaseCommand):
    help = (
        "Abort a job: a PENDING job ends ABORTED at once, a RUNNING one stops after its "
        "current step. A finished job cannot be aborted (exit 1)."
    )

    def add_arguments(self, parser):
        parser.add_argument("job_id", metavar="JOB_ID", help="the job's id (a UUID)")
        parser.add_argument(
            "--user",
            metavar="USERNAME",
            help=f"who aborts (an operator); default: ${cli.USER_ENV}",
        )
        parser.add_argument("--json", action="store_true", help="print the job as the API does")

    def handle(self, *args, job_id: str, **options):
        cli.parse_job_id(job_id)
        user = cli.acting_user(options["user"], "jobs.abort_job", "launch or abort shares")
        try:
            job = abort_job(cli.get_job(job_id), user)
        except LaunchRefused as refusal:
            raise CommandError(refusal.message) from None
        body = cli.job_body(job)
        if options["json"]:
            self.stdout.write(cli.to_json(body))
        else:
            self.stdout.write("\n".join(cli.summary_lines(body)))
