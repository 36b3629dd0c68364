"""What a share will cost before it starts: a dry run's estimate.

Counted once, when the dry run finishes, from its objects (one grouped query,
JobObjectQuerySet.cost_groups) and kept on its DryRun record: the API, the console and the
command line read it and never count again. It holds the prices, tier and bandwidth it used,
so it reads the same after the settings change; a new dry run counts with the new ones.

- bytes and objects by data type and by workflow (the canonical names of catalogue.workflows);
- the archived objects (not restored) by storage class, and how long a restore at the
  configured tier (RESTORE_TIER) typically takes: RESTORE_DELAYS;
- egress: the bytes that leave the data's region (AWS_REGION), at a price per GB (2**30 bytes,
  as AWS bills): a pull is downloaded over the internet, an ICAv2 push leaves AWS (priced as
  internet egress), an S3 push crosses regions unless the destination bucket is in the data's
  region (S3 charges nothing within a region); when the bucket's region cannot be read the push
  is assumed to cross regions. Objects a push's dry run found identical at the destination are
  skipped by the push and left out;
- the transfer time of those bytes at TRANSFER_BANDWIDTH_MBPS.

Not counted: S3 request charges, restore (retrieval) charges, storage at the destination.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings

from catalogue.workflows import Workflow
from jobs.models import AtDestination, Job, JobObject
from shares.contract import DataType, ShareType
from shares.destinations import ICAV2_SCHEME, parse_destination

GB = 1024**3  # AWS bills data transfer per GB of 2**30 bytes

INTERNET = "internet"
CROSS_REGION = "cross-region"
SAME_REGION = "same-region"

DATA_TYPES = {
    JobObject.Kind.FASTQ: DataType.FASTQ,
    JobObject.Kind.SECONDARY: DataType.SECONDARY_ANALYSIS,
}


@dataclass(frozen=True)
class RestoreDelay:
    text: str
    hours: float | None  # the longest it typically takes; None: S3 does not offer the tier


# How long a restore typically takes, by storage class and tier, as the Amazon S3 user guide
# gives it ("Understanding archive retrieval options"). An Intelligent-Tiering object's archive
# tier (Archive Access or Deep Archive Access) is not kept with the job's objects: both are told.
RESTORE_DELAYS: dict[str, dict[str, RestoreDelay]] = {
    "GLACIER": {
        "Expedited": RestoreDelay("1-5 minutes", 5 / 60),
        "Standard": RestoreDelay("3-5 hours", 5),
        "Bulk": RestoreDelay("5-12 hours", 12),
    },
    "DEEP_ARCHIVE": {
        "Expedited": RestoreDelay(
            "not offered: S3 refuses an Expedited restore of DEEP_ARCHIVE", None
        ),
        "Standard": RestoreDelay("within 12 hours", 12),
        "Bulk": RestoreDelay("within 48 hours", 48),
    },
    "INTELLIGENT_TIERING": {
        "Expedited": RestoreDelay(
            "1-5 minutes from the Archive Access tier; not offered from Deep Archive Access", None
        ),
        "Standard": RestoreDelay(
            "3-5 hours (Archive Access tier) to 12 hours (Deep Archive Access)", 12
        ),
        "Bulk": RestoreDelay(
            "5-12 hours (Archive Access tier) to 48 hours (Deep Archive Access)", 48
        ),
    },
}
UNKNOWN_DELAY = RestoreDelay("not known for this storage class", None)


def restore_delay(storage_class: str, tier: str) -> RestoreDelay:
    return RESTORE_DELAYS.get(storage_class, {}).get(tier, UNKNOWN_DELAY)


@dataclass(frozen=True)
class Prices:
    """What the estimate is counted with: the settings of the moment."""

    internet_per_gb: Decimal
    cross_region_per_gb: Decimal
    currency: str
    bandwidth_mbps: int
    restore_tier: str
    source_region: str

    @classmethod
    def from_settings(cls) -> Prices:
        return cls(
            internet_per_gb=settings.EGRESS_PRICE_PER_GB_INTERNET,
            cross_region_per_gb=settings.EGRESS_PRICE_PER_GB_CROSS_REGION,
            currency=settings.EGRESS_CURRENCY,
            bandwidth_mbps=settings.TRANSFER_BANDWIDTH_MBPS,
            restore_tier=settings.RESTORE_TIER,
            source_region=settings.AWS_REGION,
        )

    def per_gb(self, route: str) -> Decimal:
        return {
            INTERNET: self.internet_per_gb,
            CROSS_REGION: self.cross_region_per_gb,
            SAME_REGION: Decimal(0),
        }[route]


@dataclass(frozen=True)
class Route:
    """Where the bytes go, for the price: INTERNET, CROSS_REGION or SAME_REGION, and why."""

    kind: str
    note: str
    destination_region: str | None = None


def egress_route(share_type: str, destination: str, source_region: str) -> Route:
    """A pull goes to the internet; an ICAv2 push leaves AWS; an S3 push crosses regions unless
    its bucket is in the data's region (asked of S3: one HEAD of the bucket)."""
    if share_type == ShareType.PULL:
        return Route(INTERNET, "a pull: the collaborator downloads the files over the internet")
    target = parse_destination(destination)
    if target.scheme == ICAV2_SCHEME:
        return Route(INTERNET, "an ICAv2 push: the files leave AWS (priced as internet egress)")
    from sharing_project.s3.objects import bucket_region  # loads boto3: not at the admin's start

    region = bucket_region(target.container)
    if region is None:
        return Route(
            CROSS_REGION,
            f"the region of bucket {target.container} could not be read: assumed cross-region",
        )
    if region == source_region:
        return Route(
            SAME_REGION,
            f"bucket {target.container} is in {region}, as the data: S3 charges nothing "
            "for a copy within a region",
            region,
        )
    return Route(
        CROSS_REGION, f"from {source_region} to bucket {target.container} in {region}", region
    )


def estimate_dry_run(job: Job) -> dict:
    """The estimate of a finished dry run's objects (see the module's docstring)."""
    prices = Prices.from_settings()
    route = egress_route(job.share_type, job.destination, prices.source_region)
    return build_estimate(
        job.job_objects.all().cost_groups(), route, prices, skips_identical=bool(job.destination)
    )


def build_estimate(
    groups: list[dict], route: Route, prices: Prices, *, skips_identical: bool
) -> dict:
    """The estimate from cost_groups() rows: the API's shape (camelCase), as stored."""
    total = _count(groups)
    archived = [g for g in groups if g["archived"]]
    moving = [
        g
        for g in groups
        if not (skips_identical and g["at_destination"] == AtDestination.IDENTICAL)
    ]
    egress_bytes = _count(moving)["bytes"]
    return {
        **total,
        "byDataType": [
            {"dataType": data_type.value, **_count(g for g in groups if g["kind"] == kind)}
            for kind, data_type in DATA_TYPES.items()
            if any(g["kind"] == kind for g in groups)
        ],
        "byWorkflow": [
            {"workflow": name, **_count(g for g in groups if g["workflow_name"] == name)}
            for name in _workflows(groups)
        ],
        "archived": _archived(archived, prices.restore_tier),
        "egress": {
            "route": route.kind,
            "note": route.note,
            "sourceRegion": prices.source_region,
            "destinationRegion": route.destination_region,
            "bytes": egress_bytes,
            "pricePerGb": f"{prices.per_gb(route.kind):f}",
            "currency": prices.currency,
            "cost": f"{egress_cost(egress_bytes, prices.per_gb(route.kind)):f}",
        },
        "transfer": {
            "bytes": egress_bytes,
            "bandwidthMbps": prices.bandwidth_mbps,
            "seconds": transfer_seconds(egress_bytes, prices.bandwidth_mbps),
        },
    }


def egress_cost(size: int, per_gb: Decimal) -> Decimal:
    """`size` bytes at `per_gb` a GB (2**30 bytes), to the cent."""
    return (Decimal(size) * per_gb / GB).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def transfer_seconds(size: int, mbps: int) -> int:
    """Whole seconds (rounded up) that `size` bytes take at `mbps` megabits (10**6) a second."""
    return -(-size * 8 // (mbps * 1_000_000))


def _count(groups) -> dict[str, int]:
    objects = size = 0
    for group in groups:
        objects += group["objects"]
        size += group["bytes"]
    return {"objects": objects, "bytes": size}


def _workflows(groups: list[dict]) -> list[str]:
    """The workflows of the secondary-analysis objects, in the order of the canonical table."""
    present = {g["workflow_name"] for g in groups if g["kind"] == JobObject.Kind.SECONDARY}
    known = [w.value for w in Workflow if w.value in present]
    return known + sorted(present - set(known))


def _archived(groups: list[dict], tier: str) -> dict:
    classes = sorted({g["storage_class"] for g in groups})
    by_class = [
        {
            "storageClass": name,
            **_count(g for g in groups if g["storage_class"] == name),
            "typicalDelay": restore_delay(name, tier).text,
        }
        for name in classes
    ]
    return {
        **_count(groups),
        "restoreTier": tier,
        "typicalDelay": _longest(classes, tier).text if classes else "",
        "byStorageClass": by_class,
    }


def _longest(classes: list[str], tier: str) -> RestoreDelay:
    """The delay that decides when everything is restored: one the tier does not offer (or
    unknown) first, else the longest."""
    delays = [restore_delay(name, tier) for name in classes]
    unknown = [delay for delay in delays if delay.hours is None]
    return unknown[0] if unknown else max(delays, key=lambda delay: delay.hours)


# --- words, for the console and the command line ----------------------------------------------


def duration_text(seconds: int) -> str:
    """`0` -> "none", `42` -> "under a minute", `7500` -> "2 h 5 min", `200000` -> "2 d 7 h"."""
    if seconds <= 0:
        return "none"
    if seconds < 60:
        return "under a minute"
    minutes = -(-seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def cost_text(egress: dict) -> str:
    """`0.42 USD`; "under 0.01 USD" when something is charged that rounds to nothing."""
    cost, price = Decimal(egress["cost"]), Decimal(egress["pricePerGb"])
    if cost == 0 and egress["bytes"] and price:
        return f"under 0.01 {egress['currency']}"
    return f"{cost} {egress['currency']}"
