from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from jobs import cli
from jobs.services import launch_job
from shares.validation import LaunchSerializer
from sharing_project.errors import DryRunRequired, LaunchRefused

_MORE_HELP = {
    "data-type": " (required): Fastq and/or SecondaryAnalysis",
    "workflow": ": workflow names or aliases, e.g. tumor-normal, umccrise",
    "exclude-portal-run-id": ": runs not to share",
}


class Command(BaseCommand):
    help = (
        "Launch a share (push or pull) as the API does: the same fields, rules and dry-run gate. "
        "Id options may be repeated and take comma-separated lists. See docs/cli.md."
    )

    def add_arguments(self, parser):
        for option, field in cli.LIST_OPTIONS.items():
            parser.add_argument(
                f"--{option}",
                action="append",
                metavar="ID[,ID...]" if option.endswith("-id") else "NAME[,NAME...]",
                help=f"{field}{_MORE_HELP.get(option, '')}; repeatable, or comma-separated",
            )
        parser.add_argument(
            "--share-type", required=True, metavar="{push,pull}", help="shareType (required)"
        )
        parser.add_argument(
            "--share-destination",
            metavar="URI",
            help="shareDestination, for a push: s3://bucket/prefix/ or icav2://project/path/",
        )
        parser.add_argument(
            "--defrost-archived-fastqs",
            action="store_true",
            help="defrostArchivedFastqs: request the restore of archived fastqs",
        )
        parser.add_argument(
            "--dryrun",
            "--dry-run",
            action="store_true",
            dest="dryrun",
            help="list what would be shared, send nothing (a push needs one first)",
        )
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
        if options["wait"] and job.status in cli.FINISHED_BADLY:
            raise CommandError(cli.failure_message(job), returncode=1)
