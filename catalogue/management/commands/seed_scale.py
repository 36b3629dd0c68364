from __future__ import annotations

import json
import time

from django.core.management.base import BaseCommand, CommandError

from catalogue.scale import (
    DEFAULT_BUCKET,
    SIZE_OPTIONS,
    ScaleSize,
    big_run_id,
    big_run_prefix,
    fastq_object_libraries,
    library_id,
    option_problems,
    put_scale_objects,
    seed_scale_catalogue,
)
from jobs.scale import pull_payload, seed_finished_pull

PROGRESS_EVERY = 10_000


class Command(BaseCommand):
    help = (
        "Create a synthetic catalogue of any size (safe to run again): --objects N also writes "
        "a workflow run of N objects to S3, --job-objects N a finished pull of N objects to "
        "the database. See docs/cli.md."
    )

    def add_arguments(self, parser):
        for option in SIZE_OPTIONS:
            default = "" if option.default is None else f" (default {option.default})"
            parser.add_argument(
                f"--{option.name}",
                type=int,
                default=option.default,
                metavar="N",
                help=f"{option.help}{default}",
            )
        parser.add_argument(
            "--bucket",
            default=DEFAULT_BUCKET,
            help=f"bucket of the URIs (default {DEFAULT_BUCKET})",
        )

    def handle(self, *args, **options):
        problems = option_problems(options, options["bucket"])
        if problems:
            raise CommandError("Nothing was seeded:\n  " + "\n  ".join(problems))
        size = ScaleSize(
            libraries=options["libraries"],
            fastqs=options["fastqs"],
            workflow_runs=options["workflow_runs"],
            bucket=options["bucket"],
            objects=options["objects"],
            threads=options["threads"],
        )
        started = time.monotonic()
        counts = seed_scale_catalogue(size)
        self.stdout.write(f"Catalogue: {counts} ({time.monotonic() - started:.1f} s).")
        if size.objects:
            self._write_objects(size)
        if options["job_objects"]:
            self._seed_job(size.bucket, options["job_objects"])

    def _write_objects(self, size: ScaleSize) -> None:
        started = time.monotonic()
        reported = [0]

        def progress(written: int, present: int) -> None:
            if written - reported[0] >= PROGRESS_EVERY:
                reported[0] = written
                self.stderr.write(f"  {written} objects written, {present} already there")

        counts = put_scale_objects(size, progress)
        self.stdout.write(
            f"Objects: {counts.written} written ({counts.bytes_written} bytes), "
            f"{counts.present} already there ({time.monotonic() - started:.1f} s)."
        )
        run_id = big_run_id(size.objects)
        self.stdout.write(
            f"Workflow run {run_id}: {size.objects} objects under "
            f"{big_run_prefix(size.bucket, size.objects)}"
        )
        self.stdout.write(f"Share it: {json.dumps(pull_payload(size.objects))}")
        self.stdout.write(
            f"  python manage.py share --user USERNAME --portal-run-id {run_id} "
            "--data-type SecondaryAnalysis --share-type pull --dryrun"
        )
        libraries = fastq_object_libraries(size)
        if libraries:
            self.stdout.write(
                f"Fastqs in S3: every row of {library_id(1)}..{library_id(libraries)} "
                f"(--library-id {library_id(1)} --data-type Fastq)"
            )

    def _seed_job(self, bucket: str, objects: int) -> None:
        started = time.monotonic()
        seeded = seed_finished_pull(bucket, objects)
        job = seeded.job
        what = "created" if seeded.created else "already there"
        self.stdout.write(
            f"Job {job.pk}: a SUCCEEDED pull of workflow run {big_run_id(objects)}, "
            f"{job.objects_total} objects ({job.bytes_total} bytes), {what} "
            f"({time.monotonic() - started:.1f} s)."
        )
        self.stdout.write(f"  python manage.py job_status {job.pk}")
