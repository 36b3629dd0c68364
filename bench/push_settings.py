"""Settings for one experiment of the push benchmark, never for the service: the project's own
settings with django-q2's `poll` taken from BENCH_Q_POLL (seconds), to measure what the poll
costs a push. `python -m bench.push` gives them to the cluster of a `BENCH_Q_POLL=...` variant."""

from __future__ import annotations

import os

from sharing_project.settings import *  # noqa: F403
from sharing_project.settings import Q_CLUSTER

Q_CLUSTER = {**Q_CLUSTER, "poll": float(os.environ.get("BENCH_Q_POLL", Q_CLUSTER["poll"]))}
