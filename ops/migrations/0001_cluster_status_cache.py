"""The table of the database cache in which django-q2's clusters leave their heartbeats
(settings.CACHES["cluster_status"]), created by `migrate` wherever the service is deployed."""

from django.core.management import call_command
from django.db import migrations


def create_cache_tables(apps, schema_editor) -> None:
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies: list = []

    operations = [migrations.RunPython(create_cache_tables, migrations.RunPython.noop)]
