"""Batch records in Redis: which jobs one POST /batches created, and for which API key.

    batch:{id}   JSON {owner, created_at, job_ids}, kept record_ttl like a job's id record

The jobs themselves are ordinary jobs; a batch only groups their ids. `summarise` reads each
job's state: O(batch size).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from redis import Redis
from redis.client import Pipeline

from jobs.errors import BatchNotFound, JobConflict, JobExpired, JobNotFound
from jobs.keys import Keys
from jobs.settings import Settings
from jobs.state import Jobs

BatchStatus = Literal["queued", "started", "finished", "failed", "canceled", "expired"]
BATCH_STATUSES: tuple[BatchStatus, ...] = ("queued", "started", "finished", "failed", "canceled", "expired")
FINAL = frozenset({"finished", "failed", "canceled", "expired"})


@dataclass(frozen=True)
class BatchRecord:
    batch_id: str
    owner: str  # API key name; "" without auth
    created_at: datetime
    job_ids: list[str]


@dataclass(frozen=True)
class BatchRow:
    job_id: str
    status: BatchStatus  # `expired`: the job's records are gone
    progress: float


class BatchStore:
    def __init__(self, redis: Redis, settings: Settings) -> None:
        self.redis = redis
        self.settings = settings
        self.keys = Keys(settings.key_prefix)

    def put(self, pipe: Pipeline, record: BatchRecord) -> None:
        """Queue the write on the caller's transaction, beside the jobs it names."""
        body = {"owner": record.owner, "created_at": record.created_at.isoformat(), "job_ids": record.job_ids}
        pipe.set(self.keys.batch(record.batch_id), json.dumps(body), ex=self.settings.record_ttl)

    def get(self, batch_id: str, owner: str | None) -> BatchRecord:
        """The record; BatchNotFound unless `owner` made it (None: auth is off, anyone may read)."""
        raw = self.redis.get(self.keys.batch(batch_id)) if batch_id.isalnum() else None
        if raw is None:
            raise BatchNotFound(f"no batch {batch_id!r}")
        body = json.loads(raw)
        if owner is not None and body["owner"] != owner:
            raise BatchNotFound(f"no batch {batch_id!r}")
        return BatchRecord(batch_id, body["owner"], datetime.fromisoformat(body["created_at"]), body["job_ids"])


def rows(jobs: Jobs, record: BatchRecord) -> list[BatchRow]:
    out = []
    for job_id in record.job_ids:
        try:
            state = jobs.state(job_id)
            out.append(BatchRow(job_id, state.status, state.progress))
        except (JobExpired, JobNotFound):
            out.append(BatchRow(job_id, "expired", 0.0))
    return out


def cancel_all(jobs: Jobs, record: BatchRecord) -> None:
    """Cancel every job not yet final, as a job's cancel does: queued ones at once, running ones
    at their next progress check. Jobs already finished or failed keep their results."""
    for job_id in record.job_ids:
        try:
            jobs.cancel(job_id)
        except (JobConflict, JobExpired, JobNotFound):
            pass  # final already, or gone: nothing to stop
