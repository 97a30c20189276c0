"""GET /metrics of the API process, in Prometheus text format.

The API exports what it sees: submissions and cancels of queued jobs (counters of this process),
and, read from Redis at each scrape, the queue depth, running jobs, live workers and pending
webhook deliveries. Job outcomes, durations, queries and GPU memory are each worker's own
(worker.metrics, on its own port). Every name starts with `saliency_`.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from redis import Redis
from redis.exceptions import RedisError
from rq import SimpleWorker

from jobs import queue, webhooks
from jobs.settings import Settings

log = logging.getLogger(__name__)
LABELS = ("model", "method")


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


class ApiMetrics:
    """One per app (its own registry, so several apps in one process do not collide). It hears
    the core's events (jobs.events.Events)."""

    def __init__(self, redis: Redis, settings: Settings) -> None:
        r = self.registry = CollectorRegistry()
        self.submissions = Counter("saliency_jobs_submitted", "jobs accepted by this API process", LABELS,
                                 registry=r)
        self.cancels = Counter("saliency_jobs_canceled", "jobs canceled while queued (running ones: "
                                "counted by their worker)", LABELS, registry=r)
        self.idempotent_replays = Counter("saliency_idempotent_replays", "POST /explain answered from "
                                          "an earlier request with the same Idempotency-Key", registry=r)
        r.register(QueueCollector(redis, settings))

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def submitted(self, model: str, method: str) -> None:  # jobs.events.Events
        self.submissions.labels(model, method).inc()

    def canceled(self, model: str, method: str) -> None:
        self.cancels.labels(model, method).inc()

    def replayed(self) -> None:
        self.idempotent_replays.inc()
