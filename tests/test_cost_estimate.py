"""What a share will cost before it starts: a dry run's estimate (bytes by data type and by
workflow, archived bytes and the restore's typical delay, egress at a price per GB, transfer
time at a bandwidth), counted once when the dry run finishes; in the API, the console and the
command line."""

from __future__ import annotations

import io
from decimal import Decimal

import boto3
import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from catalogue.demo import ARCHIVED_LIBRARY, RUN_A
from catalogue.models import Fastq, WorkflowRun
from jobs.cli import estimate_rows, human_bytes
from jobs.estimate import (
    INTERNET,
    Prices,
    Route,
    build_estimate,
    cost_text,
    duration_text,
    egress_route,
)
from jobs.models import Job
from shares.models import DryRun
from sharing_project.s3.objects import ensure_bucket, list_objects

pytestmark = pytest.mark.django_db

# Two libraries of one pair: the tumour's fastqs (STANDARD), the normal's (DEEP_ARCHIVE, the
# demo's archived fastqs), and the pair's tumor-normal and umccrise runs.
TUMOUR = "L2400009"
PAIR = {
    "libraryIdList": [TUMOUR, ARCHIVED_LIBRARY],
    "dataTypeList": ["Fastq", "SecondaryAnalysis"],
}
PULL = {**PAIR, "shareType": "pull"}
GB = 1024**3


def fastq_sizes(library_id: str) -> list[int]:
    """The sizes of a library's fastqs on RUN_A, as the catalogue has them."""
    fastq = Fastq.objects.get(library__library_id=library_id, instrument_run_id=RUN_A)
    return [fastq.r1_size, fastq.r2_size]


def run_sizes(workflow: str) -> list[int]:
    """The sizes of the pair's run of a workflow, as S3 lists them."""
    (run,) = WorkflowRun.objects.filter(
        workflow_name=workflow, libraries__library_id=TUMOUR, status="SUCCEEDED"
    )
    return [item.size for item in list_objects(run.output_uri)]


def dry_run(launch, operator_client, payload: dict) -> dict:
    response = launch(**payload, dryrun=True)
    assert response.status_code == 202, response.content
    job = operator_client.get(response.json()["url"]).json()
    assert job["status"] == "SUCCEEDED", job["error"]
    return job


def test_a_pull_dry_run_estimates_sizes_archived_bytes_egress_and_time(
    launch, demo, operator_client
):
    estimate = dry_run(launch, operator_client, PULL)["estimate"]

    standard, archived = fastq_sizes(TUMOUR), fastq_sizes(ARCHIVED_LIBRARY)
    tumor_normal, umccrise = run_sizes("tumor-normal"), run_sizes("umccrise")
    fastq_bytes = sum(standard) + sum(archived)
    secondary_bytes = sum(tumor_normal) + sum(umccrise)
    total = fastq_bytes + secondary_bytes
    objects = 4 + len(tumor_normal) + len(umccrise)
    assert estimate == {
        "objects": objects,
        "bytes": total,
        "byDataType": [
            {"dataType": "Fastq", "objects": 4, "bytes": fastq_bytes},
            {
                "dataType": "SecondaryAnalysis",
                "objects": objects - 4,
                "bytes": secondary_bytes,
            },
        ],
        "byWorkflow": [
            {"workflow": "tumor-normal", "objects": len(tumor_normal), "bytes": sum(tumor_normal)},
            {"workflow": "umccrise", "objects": len(umccrise), "bytes": sum(umccrise)},
        ],
        "archived": {
            "objects": 2,
            "bytes": sum(archived),
            "restoreTier": "Standard",
            "typicalDelay": "within 12 hours",
            "byStorageClass": [
                {
                    "storageClass": "DEEP_ARCHIVE",
                    "objects": 2,
                    "bytes": sum(archived),
                    "typicalDelay": "within 12 hours",
                }
            ],
        },
        "egress": {
            "route": "internet",
            "note": "a pull: the collaborator downloads the files over the internet",
            "sourceRegion": "ap-southeast-2",
            "destinationRegion": None,
            "bytes": total,
            "pricePerGb": "0.09",
            "currency": "USD",
            "cost": "0.00",  # a few KiB
        },
        "transfer": {"bytes": total, "bandwidthMbps": 1000, "seconds": 1},
    }


def test_the_settings_price_the_estimate_and_a_new_dry_run_counts_with_them(
    launch, demo, operator_client, settings
):
    before = dry_run(launch, operator_client, PULL)["estimate"]
    # A price no setting would allow, so that a share of a few KiB costs whole cents.
    settings.EGRESS_PRICE_PER_GB_INTERNET = Decimal("1000000")
    settings.EGRESS_CURRENCY = "AUD"
    settings.TRANSFER_BANDWIDTH_MBPS = 1
    settings.RESTORE_TIER = "Bulk"
    after = dry_run(launch, operator_client, PULL)["estimate"]

    size = after["bytes"]
    assert after["egress"]["pricePerGb"] == "1000000"
    assert after["egress"]["currency"] == "AUD"
    assert after["egress"]["cost"] == str((Decimal(size) * 1000000 / GB).quantize(Decimal("0.01")))
    assert after["egress"]["cost"] != "0.00"
    assert after["transfer"] == {
        "bytes": size,
        "bandwidthMbps": 1,
        "seconds": -(-size * 8 // 10**6),
    }
    assert after["archived"]["restoreTier"] == "Bulk"
    assert after["archived"]["typicalDelay"] == "within 48 hours"
    # The first dry run keeps what it was counted with.
    first = operator_client.get(f"/api/v1/jobs/{DryRun.objects.earliest('created_at').job_id}")
    assert first.json()["estimate"] == before
    assert before["egress"]["currency"] == "USD"


def test_a_large_share_is_priced_per_gb_and_timed_at_the_bandwidth():
    """3 TiB of fastqs, 1 TiB of tumor-normal outputs, 100 GiB in GLACIER and 1 GiB in
    DEEP_ARCHIVE, pulled at 0.09 a GB over 1 Gbit/s; what a push skips is left out."""
    tib = 1024 * GB
    groups = [
        _group("fastq", "", "STANDARD", False, 3 * tib - 101 * GB, 600),
        _group("fastq", "", "GLACIER", False, 0, 0),
        _group("fastq", "", "GLACIER", True, 100 * GB, 40),
        _group("fastq", "", "DEEP_ARCHIVE", True, GB, 2),
        _group("secondary", "tumor-normal", "STANDARD", False, tib, 500),
    ]
    prices = Prices(Decimal("0.09"), Decimal("0.02"), "USD", 1000, "Standard", "ap-southeast-2")
    estimate = build_estimate(groups, Route(INTERNET, "a pull"), prices, skips_identical=False)
    assert estimate["bytes"] == 4 * tib
    assert estimate["byDataType"] == [
        {"dataType": "Fastq", "objects": 642, "bytes": 3 * tib},
        {"dataType": "SecondaryAnalysis", "objects": 500, "bytes": tib},
    ]
    assert estimate["egress"]["cost"] == "368.64"  # 4096 GB at 0.09
    assert estimate["transfer"]["seconds"] == 35_185  # 4 TiB at 10**9 bit/s: 9 h 46 min
    assert estimate["archived"]["typicalDelay"] == "within 12 hours"  # the slowest class
    assert [c["typicalDelay"] for c in estimate["archived"]["byStorageClass"]] == [
        "within 12 hours",
        "3-5 hours",
    ]
    # A push that finds the tumor-normal outputs already at the destination skips them.
    groups[-1] = {**groups[-1], "at_destination": "identical"}
    push = build_estimate(groups, Route("cross-region", "elsewhere"), prices, skips_identical=True)
    assert push["bytes"] == 4 * tib
    assert push["egress"]["bytes"] == 3 * tib
    assert push["egress"]["cost"] == "61.44"  # 3072 GB at 0.02


def test_the_command_line_names_each_archived_class_with_its_delay():
    groups = [
        _group("fastq", "", "GLACIER", True, 100 * GB, 40),
        _group("fastq", "", "DEEP_ARCHIVE", True, GB, 2),
        _group("fastq", "", "STANDARD", False, 4 * 1024 * GB, 600),
    ]
    prices = Prices(Decimal("0.09"), Decimal("0.02"), "USD", 1000, "Bulk", "ap-southeast-2")
    estimate = build_estimate(groups, Route(INTERNET, "a pull"), prices, skips_identical=False)
    rows = dict(estimate_rows(estimate))
    assert rows["Archived"] == (
        "42 object(s), 101.0 GiB (DEEP_ARCHIVE 2 object(s), 1.0 GiB: within 48 hours; "
        "GLACIER 40 object(s), 100.0 GiB: 5-12 hours); a Bulk restore of them all typically "
        "takes within 48 hours"
    )
    assert rows["Egress"] == "377.73 USD for 4.1 TiB at 0.09 USD/GB (internet: a pull)"
    assert rows["Transfer time"] == "10 h 1 min for 4.1 TiB at 1000 Mbit/s"


def _group(kind, workflow, storage_class, archived, size, objects, at_destination="") -> dict:
    return {
        "kind": kind,
        "workflow_name": workflow,
        "storage_class": storage_class,
        "archived": archived,
        "at_destination": at_destination,
        "objects": objects,
        "bytes": size,
    }


def test_an_expedited_tier_says_deep_archive_cannot_be_restored_at_it(settings):
    settings.RESTORE_TIER = "Expedited"
    groups = [
        _group("fastq", "", "DEEP_ARCHIVE", True, 10, 1),
        _group("fastq", "", "GLACIER", True, 10, 1),
    ]
    estimate = build_estimate(
        groups, Route(INTERNET, ""), Prices.from_settings(), skips_identical=False
    )
    assert estimate["archived"]["typicalDelay"].startswith("not offered")
    glacier = estimate["archived"]["byStorageClass"][1]
    assert glacier == {
        "storageClass": "GLACIER",
        "objects": 1,
        "bytes": 10,
        "typicalDelay": "1-5 minutes",
    }


# --- push: which egress -----------------------------------------------------------------------


def push(bucket: str) -> dict:
    return {**PAIR, "shareType": "push", "shareDestination": f"s3://{bucket}/estimate/"}


def test_a_push_to_a_bucket_in_the_datas_region_costs_nothing(launch, demo, operator_client):
    ensure_bucket("collaborator-bucket")  # in AWS_REGION, as the demo's bucket
    egress = dry_run(launch, operator_client, push("collaborator-bucket"))["estimate"]["egress"]
    assert egress["route"] == "same-region"
    assert egress["destinationRegion"] == "ap-southeast-2"
    assert egress["pricePerGb"] == "0"
    assert egress["cost"] == "0.00"
    assert "charges nothing" in egress["note"]


def test_a_push_to_a_bucket_in_another_region_is_priced_cross_region(
    launch, demo, operator_client, settings, s3_endpoint
):
    oregon = boto3.client("s3", region_name="us-west-2", endpoint_url=s3_endpoint)
    oregon.create_bucket(
        Bucket="collaborator-oregon",
        CreateBucketConfiguration={"LocationConstraint": "us-west-2"},
    )
    settings.EGRESS_PRICE_PER_GB_CROSS_REGION = Decimal("1000000")
    estimate = dry_run(launch, operator_client, push("collaborator-oregon"))["estimate"]
    egress = estimate["egress"]
    assert egress["route"] == "cross-region"
    assert egress["destinationRegion"] == "us-west-2"
    assert egress["note"] == "from ap-southeast-2 to bucket collaborator-oregon in us-west-2"
    assert egress["bytes"] == estimate["bytes"]
    expected = (Decimal(estimate["bytes"]) * 1000000 / GB).quantize(Decimal("0.01"))
    assert egress["cost"] == str(expected) != "0.00"


def test_a_push_to_a_bucket_whose_region_cannot_be_read_is_assumed_cross_region(
    launch, demo, operator_client
):
    egress = dry_run(launch, operator_client, push("no-such-bucket-anywhere"))["estimate"]["egress"]
    assert egress["route"] == "cross-region"
    assert egress["destinationRegion"] is None
    assert "assumed cross-region" in egress["note"]
    assert egress["pricePerGb"] == "0.02"


def test_objects_already_at_the_destination_are_left_out_of_a_push_estimate(
    launch, demo, operator_client
):
    ensure_bucket("collaborator-bucket")
    payload = {**push("collaborator-bucket"), "libraryIdList": [TUMOUR]}
    dry_run(launch, operator_client, payload)
    pushed = operator_client.get(launch(**payload).json()["url"]).json()
    assert pushed["status"] == "SUCCEEDED", pushed["error"]
    again = dry_run(launch, operator_client, payload)["estimate"]
    assert again["bytes"] > 0
    assert again["egress"]["bytes"] == 0
    assert again["transfer"]["seconds"] == 0


def test_an_icav2_push_is_priced_as_internet_egress_without_asking_s3():
    route = egress_route("push", "icav2://project/share/", "ap-southeast-2")
    assert route.kind == INTERNET
    assert "ICAv2" in route.note


# --- where it is read -------------------------------------------------------------------------


def test_the_estimate_is_counted_once_and_reading_it_counts_nothing(launch, demo, operator_client):
    job = dry_run(launch, operator_client, PULL)
    assert DryRun.objects.get(job_id=job["id"]).estimate == job["estimate"]
    with CaptureQueriesContext(connection) as queries:
        assert operator_client.get(job["url"]).json()["estimate"] == job["estimate"]
    assert not [q for q in queries if "jobobject" in q["sql"].lower() and "SUM(" in q["sql"]]


def test_only_a_dry_run_has_an_estimate(launch, demo, operator_client):
    """A pull itself, and a dry run made before estimates were, show null."""
    pulled = operator_client.get(launch(**PULL | {"libraryIdList": [TUMOUR]}).json()["url"]).json()
    assert pulled["status"] == "SUCCEEDED", pulled["error"]
    assert pulled["estimate"] is None
    job = dry_run(launch, operator_client, PULL)
    DryRun.objects.filter(job_id=job["id"]).update(estimate=None)
    assert operator_client.get(job["url"]).json()["estimate"] is None


def test_the_schema_declares_the_estimate(operator_client):
    schema = operator_client.get("/api/schema?format=json").json()
    components = schema["components"]["schemas"]
    job = components["JobDetail"]["properties"]["estimate"]
    assert job["allOf"][0]["$ref"].endswith("/Estimate")
    assert job["nullable"] is True
    estimate = components["Estimate"]["properties"]
    assert set(estimate) == {
        "objects",
        "bytes",
        "byDataType",
        "byWorkflow",
        "archived",
        "egress",
        "transfer",
    }
    egress = components["EgressEstimate"]["properties"]
    assert egress["cost"]["format"] == "decimal"


def test_the_console_page_shows_what_it_will_cost(launch, demo, operator_client, operator):
    job = dry_run(launch, operator_client, PULL)
    browser = Client()
    browser.force_login(operator)
    page = browser.get(reverse("admin:jobs_job_change", args=[job["id"]])).content.decode()
    section = page.split('id="estimate"')[1].split("</div>")[0]
    assert "What it will cost" in section
    assert "<th>Fastq</th><td>4</td>" in section
    assert "tumor-normal" in section
    assert "umccrise" in section
    assert "DEEP_ARCHIVE: 2" in section
    assert "A Standard restore of them all typically takes within 12 hours." in section
    assert "<strong>under 0.01 USD</strong> at 0.09 USD/GB (internet:" in section
    assert "<strong>under a minute</strong> at 1000 Mbit/s" in section
    assert "style=" not in section  # the content security policy allows no inline style


def test_the_console_page_of_a_job_without_an_estimate_has_no_section(
    launch, demo, operator_client, operator
):
    job = dry_run(launch, operator_client, PULL)
    DryRun.objects.filter(job_id=job["id"]).update(estimate=None)
    browser = Client()
    browser.force_login(operator)
    page = browser.get(reverse("admin:jobs_job_change", args=[job["id"]])).content.decode()
    assert 'id="estimate"' not in page


def cli_fields(text: str) -> dict[str, str]:
    labelled = (line.partition(":") for line in text.splitlines() if not line.startswith(" "))
    return {label: value.strip() for label, _colon, value in labelled}


@pytest.mark.usefixtures("transactional_db")  # the job is queued (and run) as it commits
def test_share_dryrun_wait_prints_the_estimate(demo, operator):
    options = ["--library-id", f"{TUMOUR},{ARCHIVED_LIBRARY}", "--data-type", "Fastq"]
    options += ["--data-type", "SecondaryAnalysis", "--share-type", "pull", "--dryrun"]
    out = io.StringIO()
    call_command(
        "share", "--user", operator.username, *options, "--wait", "--interval", "0.1", stdout=out
    )
    lines = cli_fields(out.getvalue())
    archived = human_bytes(sum(fastq_sizes(ARCHIVED_LIBRARY)))
    assert lines["By data type"].startswith("Fastq 4 object(s), ")
    assert "; SecondaryAnalysis " in lines["By data type"]
    assert lines["By workflow"].startswith("tumor-normal ")
    assert "; umccrise " in lines["By workflow"]
    assert lines["Archived"] == (
        f"2 object(s), {archived} in DEEP_ARCHIVE: a Standard restore typically takes within "
        "12 hours"
    )
    assert lines["Egress"].startswith("under 0.01 USD for ")
    assert lines["Egress"].endswith(
        "at 0.09 USD/GB (internet: a pull: the collaborator downloads the files over the internet)"
    )
    assert lines["Transfer time"].startswith("under a minute for ")
    assert lines["Transfer time"].endswith(" at 1000 Mbit/s")
    job = Job.objects.get()
    status = io.StringIO()
    call_command("job_status", str(job.pk), stdout=status)
    assert cli_fields(status.getvalue())["Egress"] == lines["Egress"]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "none"),
        (59, "under a minute"),
        (60, "1 min"),
        (61, "2 min"),
        (3600, "1 h"),
        (7500, "2 h 5 min"),
        (86400, "1 d"),
        (200_000, "2 d 7 h"),
    ],
)
def test_transfer_time_in_words_rounds_up(seconds, text):
    assert duration_text(seconds) == text


def test_a_cost_that_rounds_to_nothing_says_under_a_cent_unless_it_is_free():
    egress = {"bytes": 1546, "pricePerGb": "0.09", "currency": "USD", "cost": "0.00"}
    assert cost_text(egress) == "under 0.01 USD"
    assert cost_text({**egress, "pricePerGb": "0"}) == "0.00 USD"
    assert cost_text({**egress, "bytes": 0}) == "0.00 USD"
