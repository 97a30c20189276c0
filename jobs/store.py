"""A job's own data in Redis, beside RQ's job record: its upload, results, cancel flag and id record.

Workers on other machines share nothing with the API but Redis, so everything a job needs or
produces lives here, each key with a TTL (key names: jobs.keys):

    upload   the uploaded bytes, until a worker has used them (upload_ttl)
    result   hash: summary JSON, gzipped .npy map, heatmap and overlay PNGs, and for sampling
             methods the gzipped .npy uncertainty and its heatmap (result_ttl)
    cancel   set by a cancel request; the worker's progress callback checks it (record_ttl)
    job      that the id was issued, and to which API key name, kept longer than the data so
             that an expired job answers 410 Gone instead of 404 (record_ttl)
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from redis import Redis
from redis.client import Pipeline

from jobs.keys import Keys
from jobs.settings import Settings

# Artifact name in the URL -> field of the result hash.
ARTIFACTS = {
    "saliency.npy": "saliency.npy.gz",
    "saliency.png": "saliency.png",
    "overlay.png": "overlay.png",
    "uncertainty.npy": "uncertainty.npy.gz",  # sampling methods only (OISE, RISE)
    "uncertainty.png": "uncertainty.png",
}
SUMMARY = "summary.json"


class Store:
    def __init__(self, redis: Redis, settings: Settings) -> None:
        self.redis = redis
        self.settings = settings
        self.keys = Keys(settings.key_prefix)

    # Uploads -------------------------------------------------------------------------------
    def put_upload(self, job_id: str, data: bytes, owner: str = "", pipe: Pipeline | None = None) -> None:
        """The upload and the id record, which names the owner (API key name; "" without auth).
        Given a pipeline, the caller executes it, together with the job's own records."""
        own = pipe is None
        pipe = self.redis.pipeline() if own else pipe
        pipe.set(self.keys.upload(job_id), data, ex=self.settings.upload_ttl)
        pipe.set(self.keys.job(job_id), owner, ex=self.settings.record_ttl)
        if own:
            pipe.execute()

    def get_upload(self, job_id: str) -> bytes | None:
        return self.redis.get(self.keys.upload(job_id))

    def drop_upload(self, job_id: str, pipe: Pipeline | None = None) -> None:
        (pipe if pipe is not None else self.redis).delete(self.keys.upload(job_id))

    def drop_data(self, job_id: str, pipe: Pipeline) -> None:
        """Upload, results and cancel flag (DELETE /jobs/{id}); the id record stays: the id answers 410."""
        pipe.delete(self.keys.upload(job_id), self.keys.result(job_id), self.keys.cancel(job_id))

    def was_issued(self, job_id: str) -> bool:
        return bool(self.redis.exists(self.keys.job(job_id)))

    def owner_of(self, job_id: str) -> str | None:
        """The key name that created the job ("" without auth); None for an unknown id."""
        raw = self.redis.get(self.keys.job(job_id))
        return raw.decode() if raw is not None else None

    # Results -------------------------------------------------------------------------------
    def put_result(self, job_id: str, summary: dict[str, Any], artifacts: dict[str, bytes]) -> None:
        """One hash, written and given its TTL in one transaction: all artifacts or none. The
        upload goes in the same transaction: results present <=> upload gone, so a job run again
        after Redis lost its final status finds its results (worker.tasks.explain) instead of no upload."""
        fields = {ARTIFACTS[name]: data for name, data in artifacts.items()}
        fields[SUMMARY] = json.dumps(summary).encode()
        key = self.keys.result(job_id)
        with self.redis.pipeline() as pipe:
            pipe.hset(key, mapping=fields)
            pipe.expire(key, self.settings.result_ttl)
            pipe.delete(self.keys.upload(job_id))
            pipe.execute()

    def get_summary(self, job_id: str) -> dict[str, Any] | None:
        raw = self.redis.hget(self.keys.result(job_id), SUMMARY)
        return json.loads(raw) if raw is not None else None

    def get_artifact(self, job_id: str, name: str) -> bytes | None:
        return self.redis.hget(self.keys.result(job_id), ARTIFACTS[name])

    # Cancellation --------------------------------------------------------------------------
    def request_cancel(self, job_id: str) -> str:
        """Set the flag once; returns when it was first requested (ISO 8601, UTC)."""
        key = self.keys.cancel(job_id)
        self.redis.set(key, _now(), ex=self.settings.record_ttl, nx=True)
        return self.redis.get(key).decode()

    def cancel_requested_at(self, job_id: str) -> str | None:
        raw = self.redis.get(self.keys.cancel(job_id))
        return raw.decode() if raw is not None else None

    def cancel_requested(self, job_id: str) -> bool:
        return bool(self.redis.exists(self.keys.cancel(job_id)))


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()
