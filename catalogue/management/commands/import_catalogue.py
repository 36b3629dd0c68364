from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from catalogue.importers import KINDS, import_file
from sharing_project.errors import ImportRejected


class Command(BaseCommand):
    help = (
        "Import LIMS sheets, fastq lists and workflow-run lists (CSV or JSON; columns in "
        "docs/catalogue.md). Each file is imported whole or not at all; rows are upserts."
    )

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", help="CSV or JSON files, imported in order")
        parser.add_argument(
            "--kind", choices=KINDS, help="what the files hold (default: told by their columns)"
        )

    def handle(self, *args, files: list[str], kind: str | None = None, **options):
        rejected = []
        for path in files:
            try:
                self.stdout.write(str(import_file(path, kind)))
            except ImportRejected as error:
                rejected.append(str(error))
        if rejected:
            raise CommandError("\n".join(rejected))
