"""Batch records in Redis: which jobs one POST /batches created, and for which API key.

    {prefix}:batch:{id}   JSON {owner, created_at, job_ids}, kept record_ttl like a job's id record

The jobs themselves are ordinary jobs (app.jobs); a batch only groups their ids.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from redis import Redis
from redis.client import Pipeline

from app.settings import Settings


class BatchNotFound(Exception):
    """HTTP 404: never issued, expired, or another key's (the same answer, so ids do not leak)."""


@dataclass(frozen=True)
class BatchRecord:
    batch_id: str
    owner: str  # API key name; "" without auth
    created_at: datetime
    job_ids: list[str]


class BatchStore:
    def __init__(self, redis: Redis, settings: Settings) -> None:
        self.redis = redis
        self.settings = settings

    def _key(self, batch_id: str) -> str:
        return f"{self.settings.key_prefix}:batch:{batch_id}"

    def put(self, pipe: Pipeline, record: BatchRecord) -> None:
        """Queue the write on the caller's transaction, beside the jobs it names."""
        body = {"owner": record.owner, "created_at": record.created_at.isoformat(), "job_ids": record.job_ids}
        pipe.set(self._key(record.batch_id), json.dumps(body), ex=self.settings.record_ttl)

    def get(self, batch_id: str, owner: str | None) -> BatchRecord:
        """The record; BatchNotFound unless `owner` made it (None: auth is off, anyone may read)."""
        raw = self.redis.get(self._key(batch_id)) if batch_id.isalnum() else None
        if raw is None:
            raise BatchNotFound(f"no batch {batch_id!r}")
        body = json.loads(raw)
        if owner is not None and body["owner"] != owner:
            raise BatchNotFound(f"no batch {batch_id!r}")
        return BatchRecord(batch_id, body["owner"], datetime.fromisoformat(body["created_at"]), body["job_ids"])
