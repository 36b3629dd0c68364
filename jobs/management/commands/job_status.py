from __future__ import annotations

from django.core.management.base import BaseCommand

from jobs import cli


class Command(BaseCommand):
    help = (
        "Show a job: status, progress, error, outputs and counts (--json: the API's body; "
        "--objects: its objects). Exits 0 whatever the job's status; 1 for a bad job id."
    )

    def add_arguments(self, parser):
        parser.add_argument("job_id", metavar="JOB_ID", help="the job's id (a UUID)")
        parser.add_argument(
            "--json", action="store_true", help="print the job (or its objects) as the API does"
        )
        parser.add_argument(
            "--objects",
            action="store_true",
            help="list the job's objects: relative path, size, status, destination",
        )
        parser.add_argument(
            "--wait", action="store_true", help="follow the job to its end (progress on stderr)"
        )
        cli.add_interval_option(parser)

    def handle(self, *args, job_id: str, **options):
        job = cli.get_job(job_id)
        if options["wait"]:
            job = cli.follow(job, options["interval"], self.stderr, options["timeout"])
        if options["objects"]:
            items = cli.object_items(job)
            lines = [cli.to_json(items)] if options["json"] else cli.object_lines(items)
        elif options["json"]:
            lines = [cli.to_json(cli.job_body(job))]
        else:
            lines = cli.summary_lines(cli.job_body(job), cli.shared_counts(job))
        self.stdout.write("\n".join(lines))
