"""The service's use of RQ: its queues, the worker functions by import path, the serializer, and
what RQ's statuses mean to a client.

Functions are named by import path so that the API never imports the worker's (torch) code, and
both sides use RQ's JSON serializer so that no pickle crosses Redis.
"""
from __future__ import annotations

from typing import Any, Literal

from redis import Redis
from redis.client import Pipeline
from rq import Queue, RateLimit
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


def active_limit(settings: Settings, owner: str) -> RateLimit | None:
    """The cap on one API key's jobs queued or running at once (RQ's RateLimit): jobs past it wait
    as `held` and enter the queue as the key's earlier jobs end, so one key cannot fill every
    worker. None without keys (owner "") or with the cap off."""
    if not owner or settings.max_active_jobs <= 0:
        return None
    return RateLimit(f"{settings.key_prefix}:active:{owner}", settings.max_active_jobs)


def enqueue(q: Queue, pipe: Pipeline, limit: RateLimit | None, func: str, **options: Any) -> Job:
    """Queue.enqueue_call inside the caller's transaction, also for a job under a cap. RQ refuses a
    pipeline for capped jobs only because a later save of the job on it would undo the promotion
    to `queued`; nothing saves the job after this, so RQ's own transactional path is taken (the
    one its registries use to re-enqueue capped jobs)."""
    if limit is None:
        return q.enqueue_call(func, pipeline=pipe, **options)
    job = q.create_job(func, status=JobStatus.QUEUED, rate_limit=limit, **options)
    pipe.sadd(q.redis_queues_keys, q.key)
    return q._enqueue_rate_limited_job(job, pipeline=pipe)


def read_held(pipe: Pipeline, job_ids: list[str]) -> None:
    """Queue on `pipe`, after the jobs' enqueue, the reads `held` answers from."""
    for job_id in job_ids:
        pipe.hget(Job.key_for(job_id), "status")


def held(statuses: list[bytes | None]) -> list[bool]:
    """Whether each job waits behind its key's cap (RQ's `rate_limited` status), from the results
    of read_held: read in the enqueue's own transaction, so after its promotion, in no extra
    round trip."""
    return [s == JobStatus.RATE_LIMITED.value.encode() for s in statuses]


def fetch(redis: Redis, job_id: str) -> Job:
    """RQ's record (NoSuchJobError when there is none)."""
    return Job.fetch(job_id, connection=redis, serializer=SERIALIZER)
