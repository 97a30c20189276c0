"""Jobs as the API sees them: submit to the RQ queue, read a job's state, cancel it.

RQ's job record is the source of truth for the life cycle; the service adds its own keys (see
app.store). The worker function is named by its import path so the API never imports torch-heavy
worker code, and both sides use RQ's JSON serializer so no pickle crosses Redis.
"""
from __future__ import annotations

import hashlib
import re
import secrets
import time
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from redis import Redis
from redis.client import Pipeline
from rq import Queue
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from app.job_index import JobIndex
from app import webhook_log
from app.settings import Settings
from app.store import Store
from app.validation import Submission

if TYPE_CHECKING:
    from app.prom import ApiMetrics

TASK = "worker.task.run_explanation"
SERIALIZER = JSONSerializer
_ID = re.compile(r"^[0-9a-f]{32}$")

Status = Literal["queued", "started", "finished", "failed", "canceled"]
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


class JobNotFound(Exception):
    """HTTP 404."""


class JobExpired(Exception):
    """HTTP 410: the id was issued, its data has expired."""


class JobConflict(Exception):
    """HTTP 409: the job is not in a state that allows the request."""


@dataclass
class JobState:
    """Everything GET /jobs/{id} reports, independent of HTTP."""

    job_id: str
    status: Status
    progress: float
    created_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    request: dict[str, Any]  # model, method, params, target as accepted at submit
    error: str | None
    summary: dict[str, Any] | None  # the library's Explanation.summary() once finished
    cancel_requested: bool
    enqueued_at: datetime | None = None
    audit: dict[str, Any] | None = None  # what the worker recorded to reproduce the job (worker.audit)
    webhook: dict[str, Any] | None = None  # app.webhook_log.WebhookView, with a callback_url


class Jobs:
    def __init__(self, redis: Redis, settings: Settings, metrics: "ApiMetrics | None" = None) -> None:
        self.redis = redis
        self.metrics = metrics  # app.prom: submissions and cancels this API process saw
        self.settings = settings
        self.store = Store(redis, settings)
        self.index = JobIndex(redis, settings)
        self.queue = Queue(settings.queue, connection=redis, serializer=SERIALIZER)

    def submit(self, sub: Submission, owner: str = "", pipe: Pipeline | None = None,
               job_id: str | None = None, callback_url: str | None = None) -> str:
        """Queue one job. Given a pipeline (a batch's), the writes join it and the caller executes."""
        job_id = job_id or new_job_id()  # given: reserved by app.idempotency
        request = {
            "model": sub.model,
            "method": sub.method,
            "params": sub.params,
            "target": None if sub.target is None else {"index": sub.target.index, "label": sub.target.label},
            "image": {"width": sub.width, "height": sub.height, "bytes": len(sub.image),
                      "sha256": hashlib.sha256(sub.image).hexdigest()},
            "metrics": sub.metrics,
        }
        if callback_url:
            request["callback_url"] = callback_url
        kwargs = {"job_id": job_id, "model": sub.model, "method": sub.method,
                  "target": None if sub.target is None else sub.target.index, "params": sub.params}
        if sub.metrics:  # only then, so a worker from before metrics still runs plain jobs
            kwargs["metrics"] = sub.metrics
        # One MULTI/EXEC: the upload, the id record (with its owner) and RQ's job are all written
        # or none is, so a connection lost mid-submit leaves nothing half-written.
        with nullcontext(pipe) if pipe is not None else self.redis.pipeline() as tx:
            self.queue.enqueue_call(
                TASK,
                kwargs=kwargs,
                timeout=self.settings.job_timeout,
                result_ttl=self.settings.result_ttl,
                failure_ttl=self.settings.failure_ttl,
                # A job still queued when its upload expires could only fail: let both go together.
                ttl=self.settings.upload_ttl,
                job_id=job_id,
                description=f"explain {sub.model} {sub.method} {sub.width}x{sub.height}",
                meta={"request": request, "progress": 0.0},
                pipeline=tx,  # RQ may WATCH, then starts the MULTI: the upload goes in after
            )
            self.store.put_upload(job_id, sub.image, owner, pipe=tx)
            self.index.add(tx, job_id, owner, sub.model, sub.method, time.time())  # for GET /jobs
            if pipe is None:
                tx.execute()
        if self.metrics is not None:
            self.metrics.submitted.labels(sub.model, sub.method).inc()
        return job_id

    def _fetch(self, job_id: str) -> Job:
        if not _ID.match(job_id):
            raise JobNotFound(f"no job {job_id!r}")
        try:
            return Job.fetch(job_id, connection=self.redis, serializer=SERIALIZER)
        except NoSuchJobError:
            if self.store.was_issued(job_id):
                raise JobExpired(f"job {job_id} has expired; its results are no longer kept") from None
            raise JobNotFound(f"no job {job_id!r}") from None

    def state(self, job_id: str) -> JobState:
        return self._state(self._fetch(job_id))

    def _state(self, job: Job) -> JobState:
        meta = job.meta or {}
        rq_status = job.get_status(refresh=False)
        status = _STATUS.get(rq_status, "queued")
        canceled_at = self.store.cancel_requested_at(job.id)
        if status == "failed" and meta.get("canceled"):
            status = "canceled"
        ended_at = job.ended_at
        if status == "canceled" and ended_at is None and canceled_at:
            ended_at = datetime.fromisoformat(canceled_at)
        summary = None
        if status == "finished":
            summary = self.store.get_summary(job.id)
            if summary is None:  # the result TTL ran out before RQ's record did
                raise JobExpired(f"the results of job {job.id} have expired")
        progress = 1.0 if status == "finished" else float(meta.get("progress", 0.0))
        request = meta.get("request", {})
        webhook = None
        if request.get("callback_url"):
            webhook = webhook_log.describe(self.redis, self.settings, job.id, request["callback_url"],
                                           ended=status in ("finished", "failed", "canceled"))
        return JobState(
            job_id=job.id,
            status=status,
            progress=progress,
            created_at=job.created_at,
            started_at=job.started_at,
            ended_at=ended_at,
            request=meta.get("request", {}),
            error=_error(job, meta) if status == "failed" else None,
            summary=summary,
            cancel_requested=canceled_at is not None,
            enqueued_at=job.enqueued_at,
            audit=meta.get("audit"),
            webhook=webhook,
        )

    def cancel(self, job_id: str) -> JobState:
        """Queued: canceled at once. Started: flag set, the worker stops at its next progress call."""
        job = self._fetch(job_id)
        current = self._state(job)
        if current.status in ("finished", "failed"):
            raise JobConflict(f"job {job_id} has already {current.status}")
        if current.status == "canceled":
            return current
        # The flag first: should a worker take the job between here and cancel() below, its
        # first progress check stops it.
        self.store.request_cancel(job_id)
        if current.status == "queued":
            try:
                job.cancel()
            except InvalidJobOperation:
                pass  # canceled meanwhile
            # RQ keeps canceled job records forever; ours expire like failed ones.
            self.redis.expire(job.key, self.settings.failure_ttl)
            self.store.drop_upload(job_id)
            request = current.request
            if request.get("callback_url"):
                webhook_log.schedule(self.redis, self.settings, job_id)
            if self.metrics is not None:
                self.metrics.canceled.labels(request.get("model", ""), request.get("method", "")).inc()
        return self._state(self._fetch(job_id))

    def artifact(self, job_id: str, name: str) -> bytes:
        state = self.state(job_id)
        if state.status != "finished":
            raise JobConflict(f"job {job_id} is {state.status}; artifacts exist once it has finished")
        data = self.store.get_artifact(job_id, name)
        if data is None:
            raise JobExpired(f"the results of job {job_id} have expired")
        return data


def new_job_id() -> str:
    return secrets.token_hex(16)  # 128 random bits: ids cannot be guessed


def _error(job: Job, meta: dict[str, Any]) -> str:
    """The worker's readable message; else the last line of RQ's traceback (e.g. a lost worker)."""
    if meta.get("error"):
        return str(meta["error"])
    try:
        result = job.latest_result()
    except Exception:  # an unreadable result must not break the status page
        result = None
    text = (getattr(result, "exc_string", None) or "").strip()
    last = text.splitlines()[-1] if text else ""
    return last or "the job failed without a message (was its worker lost?)"
