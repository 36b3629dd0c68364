"""What /readyz checks, as django-health-check checks: the database (the library's own check),
the sharing bucket, the queue, and at least one worker cluster alive.

A worker cluster is alive when django-q2's own status of it (`Stat`, which its sentinel saves
every half second for three seconds) can be read. django-q2 keeps it in a Django cache; the
`cluster_status` cache is a database table (settings.CACHES), so the web processes read what the
clusters on every host write. Messages name a state, never a credential or a URL with one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches
from django.db import DatabaseError, connections
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.signing import BadSignature, SignedPackage
from django_q.status import Stat
from health_check.base import HealthCheck
from health_check.exceptions import ServiceUnavailable

from sharing_project.s3.objects import bucket_problem

# The states in which a cluster takes tasks from the queue.
SERVING_STATES = (str(Conf.IDLE), str(Conf.WORKING))


@dataclass(frozen=True)
class ClusterStatus:
    """One worker cluster as its last heartbeat (django-q2's Stat) describes it."""

    cluster_id: str
    host: str
    state: str
    workers: int
    heartbeat_at: object  # an aware datetime

    @property
    def serving(self) -> bool:
        return self.state in SERVING_STATES and self.workers > 0


def _cluster_stats() -> list[Stat]:
    """The Stats django-q2's clusters saved and that have not expired.

    What `Stat.get_all()` reads (the list of keys, then each key's signed Stat), without its
    write-back of the list: a probe every few seconds from every load balancer should read
    only."""
    cache = caches[Conf.CACHE]
    keys = cache.get(Conf.Q_STAT) or []
    stats = []
    for pack in cache.get_many(keys).values():
        try:
            stats.append(SignedPackage.loads(pack))
        except BadSignature:  # a cluster signing with another SECRET_KEY: not ours
            continue
    return stats


def cluster_statuses() -> list[ClusterStatus]:
    """The clusters whose heartbeat has not expired, read from django-q2's shared cache."""
    return [
        ClusterStatus(
            cluster_id=str(stat.cluster_id),
            host=stat.host,
            state=str(stat.status),
            workers=len(stat.workers),
            heartbeat_at=stat.timestamp,
        )
        for stat in _cluster_stats()
    ]


@dataclass
class DescribedCheck(HealthCheck):
    """A check that says what it found when it passes ("3 task(s) queued"), not only "OK"."""

    state: str = dataclasses.field(default="OK", init=False, repr=False)

    def pretty_status(self) -> str:
        return self.state


def close_thread_connections() -> None:
    """django-health-check runs synchronous checks in executor threads: close the connections
    they opened, or every probe would leave one behind."""
    connections.close_all()


@dataclass
class SharingBucket(DescribedCheck):
    """The sharing bucket (pull outputs are written there) answers a HEAD through the S3 seam."""

    def run(self) -> None:
        bucket = settings.SHARING_BUCKET
        problem = bucket_problem(bucket)
        if problem:
            raise ServiceUnavailable(f"sharing bucket {bucket}: {problem}")
        self.state = f"sharing bucket {bucket} reachable"


@dataclass
class Queue(DescribedCheck):
    """The ORM broker's queue can be read; its depth is reported."""

    def run(self) -> None:
        try:
            broker = get_broker()
            queued, running = broker.queue_size(), broker.lock_size()
        except DatabaseError as error:
            raise ServiceUnavailable(
                f"the queue cannot be read ({type(error).__name__})"
            ) from error
        finally:
            close_thread_connections()
        self.state = f"{queued} task(s) queued, {running} taken by workers"


@dataclass
class Workers(DescribedCheck):
    """At least one worker cluster has sent a heartbeat in the last three seconds and is
    taking tasks."""

    def run(self) -> None:
        try:
            clusters = cluster_statuses()
        except DatabaseError as error:
            raise ServiceUnavailable(
                f"cluster status cannot be read ({type(error).__name__})"
            ) from error
        finally:
            close_thread_connections()
        serving = [cluster for cluster in clusters if cluster.serving]
        if not serving:
            # States only: host names are for /metrics, behind its token.
            seen = ", ".join(sorted(c.state for c in clusters)) or "none"
            raise ServiceUnavailable(
                f"no worker cluster is taking tasks (clusters seen: {seen}); start one with "
                "`manage.py qcluster`"
            )
        workers = sum(cluster.workers for cluster in serving)
        newest = max(cluster.heartbeat_at for cluster in serving)
        age = (timezone.now() - newest).total_seconds()
        self.state = (
            f"{len(serving)} cluster(s) with {workers} worker(s); last heartbeat {age:.1f} s ago"
        )
