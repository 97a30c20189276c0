"""GET /metrics of the API process, in Prometheus text format.

The API exports what it sees: submissions and cancels of queued jobs, jobs its janitor failed,
its HTTP answers (app.middleware.metrics), its build, and, read from Redis at each scrape, the
queue depth, running jobs, live workers and pending webhook deliveries. Job outcomes, durations,
queries and GPU memory are each worker's own (worker.metrics, on its own port). Job counters
exist at 0 for every model and method the workers serve, so rate() sees their first event.

Several API processes on one host (`python -m app --workers N`) share one scrape: each writes its
counters to files in $PROMETHEUS_MULTIPROC_DIR (the client's multiprocess mode, which
`python -m app` turns on) and /metrics sums them over every process that has lived, whichever one
answers the scrape. The Redis gauges and the build are read at scrape time, never summed.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from redis import Redis
from redis.exceptions import RedisError
from rq import SimpleWorker

from jobs import queue, webhooks
from jobs.catalog import Catalog
from jobs.events import CountsLost, build_labels
from jobs.settings import Settings

log = logging.getLogger(__name__)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # the client library's name; read when it is imported
LABELS = ("model", "method")
HTTP_LABELS = ("method", "route", "status")


class QueueCollector(Collector):
    """Gauges read from Redis when scraped; saliency_redis_up says whether that worked."""

    def __init__(self, redis: Redis, settings: Settings) -> None:
        self.redis = redis
        self.settings = settings
        self.queue = queue.explain_queue(redis, settings)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            with self.redis.pipeline(transaction=False) as pipe:  # one round trip
                pipe.llen(self.queue.key)
                pipe.zcard(self.queue.started_job_registry.key)
                pipe.zcard(webhooks.due_key(self.settings))
                queued, running, hooks = pipe.execute()
            workers = SimpleWorker.count(connection=self.redis, queue=self.queue)
        except RedisError as exc:
            log.warning("metrics: Redis unavailable: %s", exc)
            yield GaugeMetricFamily("saliency_redis_up", "whether Redis answered this scrape", value=0)
            return
        yield GaugeMetricFamily("saliency_redis_up", "whether Redis answered this scrape", value=1)
        yield GaugeMetricFamily("saliency_queue_depth", "jobs waiting in the queue", value=queued)
        yield GaugeMetricFamily("saliency_jobs_running", "jobs a worker is running", value=running)
        yield GaugeMetricFamily("saliency_workers", "workers registered on the queue (alive)", value=workers)
        yield GaugeMetricFamily("saliency_webhooks_pending", "webhook deliveries due or waiting for a retry",
                                value=hooks)


class BuildInfo(Collector):
    """saliency_build_info: a value computed at scrape, so N processes still give one sample."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        labels = build_labels()
        family = GaugeMetricFamily("saliency_build_info", "the release and Python this process runs (value 1)",
                                   labels=list(labels))
        family.add_metric(list(labels.values()), 1)
        yield family


class ApiMetrics(CountsLost):
    """One per app (its own registry, so several apps in one process do not collide). It hears
    the core's events (jobs.events.Events, LostEvents) and the HTTP middleware (answered).
    `multiproc_dir` (default: $PROMETHEUS_MULTIPROC_DIR) makes render() sum every process's files."""

    def __init__(self, redis: Redis, settings: Settings, catalog: Catalog, multiproc_dir: str | None = None) -> None:
        self.catalog = catalog
        r = self.registry = CollectorRegistry()
        self.submissions = Counter("saliency_jobs_submitted", "jobs accepted by this API process", LABELS,
                                   registry=r)
        self.canceled_jobs = Counter("saliency_jobs_canceled", "jobs canceled while queued (running ones: "
                               "counted by their worker)", LABELS, registry=r)
        self.failed_jobs = Counter("saliency_jobs_failed", "jobs this process's janitor failed (their worker "
                              "was lost)", LABELS, registry=r)
        self.failures = Counter("saliency_job_failures", "failed jobs by reason (here: lost)", ["reason"],
                                registry=r)
        self.idempotent_replays = Counter("saliency_idempotent_replays", "POST /explain answered from "
                                          "an earlier request with the same Idempotency-Key", registry=r)
        self.requests = Counter("http_requests", "HTTP answers by method, route template and status",
                                HTTP_LABELS, registry=r)
        self.latency = Histogram("http_request_duration_seconds", "time to answer, by method, route "
                                 "template and status", HTTP_LABELS, registry=r)
        self.failures.labels("lost")
        multiproc_dir = multiproc_dir or os.environ.get(MULTIPROC_ENV)
        if multiproc_dir:  # the counters above go to this process's files; scrapes read them all
            self.scraped = CollectorRegistry()
            MultiProcessCollector(self.scraped, path=multiproc_dir)
        else:
            self.scraped = r
        self.scraped.register(QueueCollector(redis, settings))
        self.scraped.register(BuildInfo())

    def render(self) -> bytes:
        self._declare()
        return generate_latest(self.scraped)

    def _declare(self) -> None:
        """Every (model, method) the workers serve, at 0: rate() and increase() then see the
        first submission or cancel too."""
        try:
            served = [(info.name, m) for info in self.catalog.models().values() if info.available
                      for m in info.methods]
        except RedisError:
            return  # saliency_redis_up says so
        for labels in served:
            for metric in (self.submissions, self.canceled_jobs, self.failed_jobs):
                metric.labels(*labels)

    def submitted(self, model: str, method: str) -> None:  # jobs.events.Events
        self.submissions.labels(model, method).inc()

    def canceled(self, model: str, method: str) -> None:
        self.canceled_jobs.labels(model, method).inc()

    def replayed(self) -> None:
        self.idempotent_replays.inc()

    def answered(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route, str(status)).observe(seconds)
