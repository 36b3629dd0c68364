from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from audit.context import ActsFromCommandLine
from jobs import cli
from jobs.services import launch_job
from shares.contract import LAUNCH_FIELDS
from shares.validation import LaunchSerializer
from sharing_project.errors import DryRunRequired, LaunchRefused


class Command(ActsFromCommandLine, BaseCommand):
    help = (
        "Launch a share (push or pull) as the API does: the same fields, rules and dry-run gate. "
        "Id options may be repeated and take comma-separated lists. See docs/cli.md."
    )

    def add_arguments(self, parser):
        for field in LAUNCH_FIELDS:
            parser.add_argument(*cli.option_names(field), **cli.option_arguments(field))
        parser.add_argument(
            "--user",
            metavar="USERNAME",
            help=f"who launches (an operator); default: ${cli.USER_ENV}",
        )
        parser.add_argument("--json", action="store_true", help="print the job as the API shows it")
        parser.add_argument(
            "--wait",
            action="store_true",
            help="follow the job to its end (progress on stderr); exit 1 if it FAILED or ABORTED",
        )
        cli.add_interval_option(parser)

    def handle(self, *args, **options):
        user = cli.acting_user(options["user"], "jobs.launch_job", "launch or abort shares")
        launch = LaunchSerializer(data=cli.launch_payload(options))
        if not launch.is_valid():
            errors = cli.option_errors(launch.errors).replace("\n", "\n  ")
            raise CommandError(f"Not launched, nothing was queued:\n  {errors}")
        try:
            job = launch_job(
                launch.normalised_config, dryrun=launch.validated_data["dryrun"], user=user
            )
        except DryRunRequired as refusal:
            raise CommandError(
                f"{refusal.message}\nOn the command line: run the same command with --dryrun first."
            ) from None
        except LaunchRefused as refusal:
            raise CommandError(refusal.message) from None
        if options["wait"]:
            job = cli.follow(job, options["interval"], self.stderr, options["timeout"])
        body = cli.job_body(job)
        if options["json"]:
            self.stdout.write(cli.to_json(body))
        else:
            counts = cli.shared_counts(job) if options["wait"] else None
            self.stdout.write("\n".join(cli.summary_lines(body, counts)))
        if options["wait"] and job.ended_badly:
            raise CommandError(cli.failure_message(job), returncode=1)
