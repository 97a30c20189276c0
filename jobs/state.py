"""Jobs as clients see them: a job's state (GET /jobs/{id}), cancelling it, and its artifacts.

RQ's job record is the source of truth for the life cycle; the service's own keys (jobs.store)
hold the upload, the results and the cancel flag, and the job's meta (jobs.meta) the request,
progress, audit and error.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from redis import Redis
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus

from jobs import meta, queue, webhooks
from jobs.errors import JobConflict, JobExpired, JobNotFound, NoArtifact
from jobs.events import Events, NoEvents
from jobs.index import JobIndex
from jobs.settings import Settings
from jobs.store import Store

_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass
class JobState:
    """Everything GET /jobs/{id} reports, independent of HTTP."""

    job_id: str
    status: queue.Status
    progress: float
    created_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    request: meta.Request  # model, method, params, target as accepted at submit
    error: str | None
    summary: dict[str, Any] | None  # the library's Explanation.summary() once finished
    cancel_requested: bool
    enqueued_at: datetime | None = None
    audit: dict[str, Any] | None = None  # what the worker recorded to reproduce the job (worker.audit)
    webhook: dict[str, Any] | None = None  # jobs.webhooks.WebhookView, with a callback_url
    held: bool = False  # waits behind its API key's cap on active jobs (jobs.queue.active_limit)


class Jobs:
    def __init__(self, redis: Redis, settings: Settings, events: Events | None = None) -> None:
        self.redis = redis
        self.settings = settings
        self.events = events or NoEvents()
        self.store = Store(redis, settings)
        self.index = JobIndex(redis, settings)

    def fetch(self, job_id: str) -> Job:
        """RQ's record of the job; JobNotFound for an id never issued, JobExpired once its data is gone."""
        if not _ID.match(job_id):
            raise JobNotFound(f"no job {job_id!r}")
        try:
            return queue.fetch(self.redis, job_id)
        except NoSuchJobError:
            if self.store.was_issued(job_id):
                raise JobExpired(f"job {job_id} has expired or was deleted; its data is no longer kept") from None
            raise JobNotFound(f"no job {job_id!r}") from None

    def state(self, job_id: str) -> JobState:
        return self._state(self.fetch(job_id))

    def _state(self, job: Job) -> JobState:
        status = queue.status_of(job)
        canceled_at = self.store.cancel_requested_at(job.id)
        if status == "failed" and meta.canceled(job):
            status = "canceled"
        ended_at = job.ended_at
        if status == "canceled" and ended_at is None and canceled_at:
            ended_at = datetime.fromisoformat(canceled_at)
        summary = None
        if status == "finished":
            summary = self.store.get_summary(job.id)
            if summary is None:  # the result TTL ran out before RQ's record did
                raise JobExpired(f"the results of job {job.id} have expired")
        progress = 1.0 if status == "finished" else meta.progress(job)
        request = meta.request(job)
        webhook = None
        if request.get("callback_url"):
            webhook = webhooks.describe(self.redis, self.settings, job, ended=status in queue.FINAL)
        return JobState(
            job_id=job.id,
            status=status,
            progress=progress,
            created_at=job.created_at,
            started_at=job.started_at,
            ended_at=ended_at,
            request=request,
            error=_error(job) if status == "failed" else None,
            summary=summary,
            cancel_requested=canceled_at is not None,
            enqueued_at=job.enqueued_at,
            audit=meta.audit(job),
            webhook=webhook,
            held=job.get_status(refresh=False) == JobStatus.RATE_LIMITED,
        )

    def cancel(self, job_id: str) -> JobState:
        """Queued: canceled at once. Started: flag set, the worker stops at its next progress call."""
        job = self.fetch(job_id)
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
            webhooks.notify(self.redis, self.settings, job, "completed")
            self.events.canceled(request.get("model", ""), request.get("method", ""))
        return self._state(self.fetch(job_id))

    def artifact(self, job_id: str, name: str) -> bytes:
        state = self.state(job_id)
        if state.status != "finished":
            raise JobConflict(f"job {job_id} is {state.status}; artifacts exist once it has finished")
        data = self.store.get_artifact(job_id, name)
        if data is None and name.startswith("uncertainty.") and state.summary is not None \
                and "stability" not in state.summary:
            raise NoArtifact(f"job {job_id} ran {state.request.get('method')!r}, which measures no "
                              "uncertainty (only the sampling methods oise and rise do)")
        if data is None:
            raise JobExpired(f"the results of job {job_id} have expired")
        return data


def _error(job: Job) -> str:
    """The worker's readable message; else the last line of RQ's traceback (e.g. a lost worker)."""
    if meta.error(job):
        return str(meta.error(job))
    try:
        result = job.latest_result()
    except Exception:  # an unreadable result must not break the status page
        result = None
    text = (getattr(result, "exc_string", None) or "").strip()
    last = text.splitlines()[-1] if text else ""
    return last or "the job failed without a message (was its worker lost?)"
