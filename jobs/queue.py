"""The service's use of RQ: its queues, the worker functions by import path, the serializer, and
what RQ's statuses mean to a client.

Functions are named by import path so that the API never imports the worker's (torch) code, and
both sides use RQ's JSON serializer so that no pickle crosses Redis.
"""
from __future__ import annotations

from typing import Literal

from redis import Redis
from rq import Queue
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from jobs.settings import Settings

SERIALIZER = JSONSerializer
EXPLAIN = "worker.tasks.explain.run_explanation"
RECONSTRUCT = "worker.tasks.reconstruct.run_reconstruction"
PREDICT = "worker.tasks.predict.run_prediction"

Status = Literal["queued", "started", "finished", "failed", "canceled"]
FINAL: frozenset[str] = frozenset({"finished", "failed", "canceled"})
_STATUS: dict[JobStatus, Status] = {
    JobStatus.CREATED: "queued",
    JobStatus.QUEUED: "queued",
    JobStatus.DEFERRED: "queued",
    JobStatus.SCHEDULED: "queued",
    JobStatus.READY_TO_ENQUEUE: "queued",
    JobStatus.RATE_LIMITED: "queued",
    JobStatus.STARTED: "started",
    JobStatus.FINISHED: "finished",
    JobStatus.FAILED: "failed",
    JobStatus.STOPPED: "canceled",
    JobStatus.CANCELED: "canceled",
}


def status_of(job: Job) -> Status:
    return _STATUS.get(job.get_status(refresh=False), "queued")


def explain_queue(redis: Redis, settings: Settings) -> Queue:
    return Queue(settings.queue, connection=redis, serializer=SERIALIZER)


def predict_queue(redis: Redis, settings: Settings) -> Queue:
    """Taken before the explain queue by every worker: one forward pass must not wait behind
    long explanations that have not started yet."""
    return Queue(f"{settings.queue}-predict", connection=redis, serializer=SERIALIZER)


def fetch(redis: Redis, job_id: str) -> Job:
    """RQ's record (NoSuchJobError when there is none)."""
    return Job.fetch(job_id, connection=redis, serializer=SERIALIZER)
