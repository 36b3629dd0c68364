"""The Prometheus metrics (/metrics), read from the database at each scrape.

Every gunicorn worker answers a scrape with the same numbers because they are counted from the
shared database (jobs, django-q2's queue and task rows, the clusters' heartbeats), not kept in
one process's memory: no prometheus-client multiprocess mode, no per-process counters.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterator

from django.db.models import Count, Sum
from django_q.brokers import get_broker
from django_q.models import Task
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from jobs.models import Job, JobStatus
from ops.health import cluster_statuses
from shares.contract import ShareType

# Task durations are summarised over this many of the most recent finished tasks (django-q2
# keeps the last Q_CLUSTER["save_limit"] successful ones).
RECENT_TASKS = 1000
QUANTILES = (0.5, 0.9, 0.99)


def job_counts() -> Iterator[Metric]:
    """Jobs by share type, dry run and status; every combination, zeros included, so that a
    series does not vanish when its last job changes status."""
    counts = {
        (row["share_type"], row["dryrun"], row["status"]): row["n"]
        for row in Job.objects.order_by()
        .values("share_type", "dryrun", "status")
        .annotate(n=Count("pk"))
    }
    family = GaugeMetricFamily(
        "dsm_jobs",
        "Jobs by share type, dry run and status.",
        labels=["share_type", "dryrun", "status"],
    )
    for share_type in ShareType.values:
        for dryrun in (False, True):
            for status in JobStatus.values:
                value = counts.get((share_type, dryrun, status), 0)
                family.add_metric([share_type, str(dryrun).lower(), status], value)
    yield family


def transfer_totals() -> Iterator[Metric]:
    """What pushes delivered and pulls handed out, summed over every job that is not a dry run.

    A push's progress counts objects copied or found identical at the destination; a pull's
    counts objects given a download link. Downloads themselves go from S3 to the collaborator
    through presigned links, which the service never sees (S3's access logs do)."""
    sums = {
        row["share_type"]: row
        for row in Job.objects.filter(dryrun=False)
        .order_by()
        .values("share_type")
        .annotate(objects=Sum("objects_done"), size=Sum("bytes_done"))
    }
    push, pull = sums.get(ShareType.PUSH, {}), sums.get(ShareType.PULL, {})
    yield CounterMetricFamily(
        "dsm_push_objects",
        "Objects pushes delivered (copied, or already identical at the destination).",
        value=push.get("objects") or 0,
    )
    yield CounterMetricFamily(
        "dsm_push_bytes", "Bytes of the objects pushes delivered.", value=push.get("size") or 0
    )
    yield CounterMetricFamily(
        "dsm_pull_objects", "Objects pulls gave a download link.", value=pull.get("objects") or 0
    )
    yield CounterMetricFamily(
        "dsm_pull_bytes",
        "Bytes of the objects pulls gave a download link.",
        value=pull.get("size") or 0,
    )


def queue_depth() -> Iterator[Metric]:
    """django-q2's ORM queue: tasks waiting, and tasks a worker has taken but not finished."""
    broker = get_broker()
    family = GaugeMetricFamily("dsm_queue_tasks", "Tasks in the queue by state.", labels=["state"])
    family.add_metric(["queued"], broker.queue_size())
    family.add_metric(["taken"], broker.lock_size())
    yield family


def task_durations() -> Iterator[Metric]:
    """Quantiles and counts of how long the most recent finished tasks ran, by task function
    and outcome (from django-q2's Task rows: started, stopped)."""
    durations: dict[tuple[str, str], list[float]] = defaultdict(list)
    rows = (
        Task.objects.filter(started__isnull=False, stopped__isnull=False)
        .order_by("-stopped")
        .values_list("func", "success", "started", "stopped")[:RECENT_TASKS]
    )
    for func, success, started, stopped in rows:
        outcome = "success" if success else "failure"
        durations[(func, outcome)].append(max((stopped - started).total_seconds(), 0.0))
    seconds = GaugeMetricFamily(
        "dsm_task_duration_seconds",
        f"How long recent tasks ran (the last {RECENT_TASKS} finished), by quantile.",
        labels=["func", "outcome", "quantile"],
    )
    count = GaugeMetricFamily(
        "dsm_recent_tasks",
        f"Finished tasks among the last {RECENT_TASKS}, by function and outcome.",
        labels=["func", "outcome"],
    )
    for (func, outcome), values in sorted(durations.items()):
        values.sort()
        for quantile in QUANTILES:
            seconds.add_metric([func, outcome, str(quantile)], _quantile(values, quantile))
        seconds.add_metric([func, outcome, "1"], values[-1])
        count.add_metric([func, outcome], len(values))
    yield seconds
    yield count


def _quantile(sorted_values: list[float], quantile: float) -> float:
    if len(sorted_values) == 1:
        return sorted_values[0]
    cuts = statistics.quantiles(sorted_values, n=100, method="inclusive")
    return cuts[round(quantile * 100) - 1]


def worker_heartbeats() -> Iterator[Metric]:
    """Each live worker cluster's last heartbeat and worker processes (the same status
    /readyz reads), and how many clusters are taking tasks."""
    clusters = cluster_statuses()
    heartbeat = GaugeMetricFamily(
        "dsm_worker_cluster_heartbeat_timestamp_seconds",
        "When a worker cluster last reported itself alive (Unix time).",
        labels=["cluster", "host", "state"],
    )
    workers = GaugeMetricFamily(
        "dsm_worker_cluster_workers",
        "Worker processes of a live cluster.",
        labels=["cluster", "host"],
    )
    for cluster in clusters:
        heartbeat.add_metric(
            [cluster.cluster_id, cluster.host, cluster.state], cluster.heartbeat_at.timestamp()
        )
        workers.add_metric([cluster.cluster_id, cluster.host], cluster.workers)
    yield heartbeat
    yield workers
    yield GaugeMetricFamily(
        "dsm_worker_clusters_serving",
        "Worker clusters alive and taking tasks.",
        value=sum(1 for cluster in clusters if cluster.serving),
    )


class ServiceCollector(Collector):
    """Reads the database at scrape time (see the module's docstring)."""

    def collect(self) -> Iterator[Metric]:
        yield from job_counts()
        yield from transfer_totals()
        yield from queue_depth()
        yield from task_durations()
        yield from worker_heartbeats()

    def describe(self) -> list[Metric]:
        # Without this the registry would collect, and read the database, at registration.
        return []


# A registry of its own: the default one's process and platform metrics would describe
# whichever gunicorn worker answered the scrape.
REGISTRY = CollectorRegistry()
REGISTRY.register(ServiceCollector())


def exposition() -> bytes:
    """The metrics in Prometheus' text format."""
    return generate_latest(REGISTRY)
