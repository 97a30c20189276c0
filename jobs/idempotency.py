"""`Idempotency-Key` on POST /explain: a client that retries a submission gets the first job back.

    {prefix}:idem:{owner}:{sha256(key)}  JSON {fingerprint, job_id, answer}, for idempotency_ttl s

The first request with a key reserves it with SET NX, naming the job id it is about to create,
so of two concurrent requests exactly one creates a job. A later request with the same key (for
the same owner: keys of different API key names never meet) and the same fingerprint gets that
job's answer again, 200 instead of 202; with a different fingerprint, 409. The fingerprint is a
SHA-256 over the upload's bytes and every form field as accepted (names resolved, defaults of
the method's options filled in), so `{"queries":100}` and `{"queries": 100}` are the same request.
If the submission itself fails (Redis down, a reconstruction refused), the key is released so a
retry can go through.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from redis import Redis

from app.jobs import new_job_id
from app.settings import Settings
from app.validation import Submission

MAX_KEY = 255


class IdempotencyConflict(Exception):
    """HTTP 409: the key was used for a different request."""


class BadIdempotencyKey(Exception):
    """HTTP 422."""


@dataclass(frozen=True)
class Claim:
    job_id: str  # the job to create (first request) or already created (replay)
    answer: dict[str, Any] | None  # the first request's Submitted body, on a replay
    replay: bool


def fingerprint(sub: Submission, **fields: Any) -> str:
    """SHA-256 over the image bytes and the accepted form fields (`fields`: those the Submission
    does not carry, e.g. callback_url, reconstruct)."""
    form = {"model": sub.model, "method": sub.method, "target": None if sub.target is None else sub.target.index,
            "params": sub.params, "metrics": sub.metrics, **fields}
    digest = hashlib.sha256(sub.image)
    digest.update(json.dumps(form, sort_keys=True, separators=(",", ":"), default=str).encode())
    return digest.hexdigest()


class Idempotency:
    def __init__(self, redis: Redis, settings: Settings) -> None:
        self.redis = redis
        self.settings = settings

    def _key(self, owner: str, key: str) -> str:
        return f"{self.settings.key_prefix}:idem:{owner}:{hashlib.sha256(key.encode()).hexdigest()}"

    def claim(self, owner: str, key: str, fp: str) -> Claim:
        if not key.strip() or len(key) > MAX_KEY:
            raise BadIdempotencyKey(f"Idempotency-Key must be 1 to {MAX_KEY} characters")
        rkey = self._key(owner, key)
        job_id = new_job_id()
        record = {"fingerprint": fp, "job_id": job_id, "answer": None}
        if self.redis.set(rkey, json.dumps(record), nx=True, ex=self.settings.idempotency_ttl):
            return Claim(job_id, None, replay=False)
        raw = self.redis.get(rkey)
        if raw is None:  # expired between the two calls: start over once
            return self.claim(owner, key, fp)
        first = json.loads(raw)
        if first["fingerprint"] != fp:
            raise IdempotencyConflict(
                "this Idempotency-Key was already used with a different request (another image or "
                "other form fields); use a new key for a new request")
        return Claim(first["job_id"], first.get("answer"), replay=True)

    def remember(self, owner: str, key: str, fp: str, job_id: str, answer: dict[str, Any]) -> None:
        """Store the first answer (the TTL runs from the claim)."""
        record = {"fingerprint": fp, "job_id": job_id, "answer": answer}
        self.redis.set(self._key(owner, key), json.dumps(record), xx=True, keepttl=True)

    def release(self, owner: str, key: str) -> None:
        self.redis.delete(self._key(owner, key))
