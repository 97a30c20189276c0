"""A worker's own Prometheus metrics, served on SALIENCY_WORKER_METRICS_PORT (0: not served).

Each worker process counts the jobs it ran; the API (app.prom) counts what it sees: submissions,
the queue, live workers. With many workers on many machines every worker is one scrape target
and Prometheus sums them (README, "Metrics"). Counters live in this process, so they restart at
zero with the worker; rate() and increase() handle that.
"""
from __future__ import annotations

import logging
import socket
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from jobs.events import FAILURE_REASONS, CountsLost, build_labels

log = logging.getLogger("worker.metrics")

# Jobs take from a fraction of a second (tiny models, few queries) to many minutes.
DURATION_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
WAIT_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600)
LABELS = ("model", "method")
WEBHOOK_OUTCOMES = ("delivered", "retry", "failed")


class GpuMemory(Collector):
    """PyTorch's CUDA allocator per device; the family has no samples on a CPU-only worker."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("saliency_gpu_memory_bytes",
                                   "CUDA memory of this worker: allocated, reserved, peak, total",
                                   labels=["device", "kind"])
        import torch  # only once scraped, and the worker has it loaded anyway

        if torch.cuda.is_available() and torch.cuda.is_initialized():
            for i in range(torch.cuda.device_count()):
                device = f"cuda:{i}"
                family.add_metric([device, "allocated"], torch.cuda.memory_allocated(i))
                family.add_metric([device, "reserved"], torch.cuda.memory_reserved(i))
                family.add_metric([device, "max_allocated"], torch.cuda.max_memory_allocated(i))
                family.add_metric([device, "total"], torch.cuda.get_device_properties(i).total_memory)
        yield family


class WorkerMetrics(CountsLost):  # lost(): what this worker's janitor decided
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.finished_jobs = Counter("saliency_jobs_finished", "jobs this worker finished", LABELS, registry=r)
        self.failed_jobs = Counter("saliency_jobs_failed", "jobs that failed in this worker", LABELS, registry=r)
        self.canceled_jobs = Counter("saliency_jobs_canceled", "jobs canceled (running ones: in their worker)",
                                LABELS, registry=r)
        self.failures = Counter("saliency_job_failures", "failed jobs by reason: " + ", ".join(FAILURE_REASONS),
                                ["reason"], registry=r)
        self.queries = Counter("saliency_model_queries", "model queries spent by finished jobs (rate(): "
                               "queries per second)", LABELS, registry=r)
        self.duration = Histogram("saliency_job_duration_seconds", "time a job ran in its worker",
                                  LABELS, buckets=DURATION_BUCKETS, registry=r)
        self.queue_wait = Histogram("saliency_job_queue_wait_seconds", "time from enqueue to start",
                                    LABELS, buckets=WAIT_BUCKETS, registry=r)
        self.busy = Gauge("saliency_worker_busy", "1 while this worker runs a job", registry=r)
        self.info = Gauge("saliency_worker_info", "this worker: its name, host and device (value 1)",
                          ["worker", "host", "device"], registry=r)
        self.webhooks = Counter("saliency_webhook_deliveries", "webhook delivery attempts by outcome "
                                "(delivered, retry, failed)", ["outcome"], registry=r)
        Gauge("saliency_build_info", "the release and Python this process runs (value 1)", list(build_labels()),
              registry=r).labels(**build_labels()).set(1)
        r.register(GpuMemory())
        for reason in FAILURE_REASONS:
            self.failures.labels(reason)
        for outcome in WEBHOOK_OUTCOMES:
            self.webhooks.labels(outcome)

    def declare(self, served: list[tuple[str, str]]) -> None:
        """Every (model, method) this worker serves, at 0: a counter that first appears at 1 hides
        its first event from rate() and increase(), and "failed share" would have no data."""
        for labels in served:
            for metric in (self.finished_jobs, self.failed_jobs, self.canceled_jobs, self.queries, self.duration,
                           self.queue_wait):
                metric.labels(*labels)

    def started(self, model: str, method: str, queue_wait: float | None) -> None:
        self.busy.set(1)
        if queue_wait is not None and queue_wait >= 0:
            self.queue_wait.labels(model, method).observe(queue_wait)

    def ended(self, model: str, method: str, outcome: str, seconds: float, queries: int = 0,
              reason: str = "error") -> None:
        """outcome: finished, failed (with its `reason`, one of FAILURE_REASONS) or canceled."""
        self.busy.set(0)
        getattr(self, f"{outcome}_jobs").labels(model, method).inc()
        if outcome == "failed":
            self.failures.labels(reason).inc()
        self.duration.labels(model, method).observe(seconds)
        if queries:
            self.queries.labels(model, method).inc(queries)

    def serve(self, port: int, worker: str, device: str) -> bool:
        """Serve /metrics on `port` (all interfaces: Prometheus scrapes from elsewhere). A port in
        use is logged, not fatal: a worker without metrics still does its jobs."""
        self.info.labels(worker, socket.gethostname(), device).set(1)
        if port <= 0:
            return False
        try:
            start_http_server(port, registry=self.registry)
        except OSError as exc:
            log.error("metrics not served: port %d: %s", port, exc)
            return False
        log.info("metrics on port %d", port)
        return True


METRICS = WorkerMetrics()  # one per worker process, shared by the job and the delivery thread
