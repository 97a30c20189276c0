"""What the core tells whoever counts (the Prometheus metrics of the API and the workers), without
knowing who counts; and the vocabulary both sides count in."""
from __future__ import annotations

import importlib.metadata
import platform
from typing import Any, Protocol

# Why a job failed, as `saliency_job_failures_total{reason}` counts it (worker.metrics, app.prom).
FAILURE_REASONS = ("error", "timeout", "out_of_memory", "model", "expired", "invalid", "lost")


class Events(Protocol):
    def submitted(self, model: str, method: str) -> None: ...

    def canceled(self, model: str, method: str) -> None: ...

    def replayed(self) -> None: ...


class LostEvents(Protocol):
    """What the lost-job janitor (jobs.lost) reports, in whichever process it ran."""

    def lost(self, model: str, method: str, decision: str) -> None: ...


class CountsLost:
    """LostEvents for a process's metrics that have `failed_jobs` and `canceled_jobs` counters by
    (model, method) and `failures` by reason: a job failed by a janitor is a failure of reason `lost`."""

    failed_jobs: Any
    canceled_jobs: Any
    failures: Any

    def lost(self, model: str, method: str, decision: str) -> None:
        if decision == "failed":
            self.failed_jobs.labels(model, method).inc()
            self.failures.labels("lost").inc()
        elif decision == "canceled":
            self.canceled_jobs.labels(model, method).inc()


class NoEvents:
    def submitted(self, model: str, method: str) -> None:
        pass

    def canceled(self, model: str, method: str) -> None:
        pass

    def replayed(self) -> None:
        pass

    def lost(self, model: str, method: str, decision: str) -> None:
        pass


def build_labels() -> dict[str, str]:
    """The labels of `saliency_build_info`: which release and Python each process runs."""
    try:
        version = importlib.metadata.version("saliency-service")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return {"version": version, "python": platform.python_version()}
