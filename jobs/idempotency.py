"""`Idempotency-Key` on POST /explain and POST /batches: a client that retries a submission gets
the first answer back.

    idem:{owner}:{sha256(key)}  JSON {fingerprint, ids, answer}, for idempotency_ttl seconds

The first request with a key reserves it with SET NX, naming the ids it is about to create, so of
two concurrent requests exactly one creates jobs. A later request with the same key (for the same
owner: keys of different API key names never meet) and the same fingerprint gets those jobs'
answer again, 200 instead of 202; with a different fingerprint, 409. The fingerprint is a SHA-256
over the uploads' bytes and every option as accepted (names resolved, defaults of the method's
options filled in), so `{"queries":100}` and `{"queries": 100}` are the same request. If the
submission itself fails (Redis down, say), the key is released so that a retry can go through.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from redis import Redis

from jobs.errors import BadIdempotencyKey, IdempotencyConflict
from jobs.keys import Keys
from jobs.settings import Settings

MAX_KEY = 255


@dataclass(frozen=True)
class Claim:
    ids: dict[str, Any]  # what to create (first request) or was created (replay): job_ids, batch_id
    answer: dict[str, Any] | None  # the first request's answer, on a replay once it is stored
    replay: bool


def fingerprint(images: list[bytes], options: Any, kind: str) -> str:
    """SHA-256 over the images and the accepted options (a dataclass), for one kind of request."""
    digest = hashlib.sha256(kind.encode())
    for data in images:
        digest.update(hashlib.sha256(data).digest())
    form = dataclasses.asdict(options)
    digest.update(json.dumps(form, sort_keys=True, separators=(",", ":"), default=str).encode())
    return digest.hexdigest()


class Idempotency:
    def __init__(self, redis: Redis, settings: Settings) -> None:
        self.redis = redis
        self.settings = settings
        self.keys = Keys(settings.key_prefix)

    def _key(self, owner: str, key: str) -> str:
        return self.keys.idempotency(owner, hashlib.sha256(key.encode()).hexdigest())

    def claim(self, owner: str, key: str, fp: str, ids: dict[str, Any]) -> Claim:
        """Reserve `key` for `ids`, or find the request that reserved it first."""
        if not key.strip() or len(key) > MAX_KEY:
            raise BadIdempotencyKey(f"Idempotency-Key must be 1 to {MAX_KEY} characters")
        rkey = self._key(owner, key)
        record = {"fingerprint": fp, "ids": ids, "answer": None}
        if self.redis.set(rkey, json.dumps(record), nx=True, ex=self.settings.idempotency_ttl):
            return Claim(ids, None, replay=False)
        raw = self.redis.get(rkey)
        if raw is None:  # expired between the two calls: start over once
            return self.claim(owner, key, fp, ids)
        first = json.loads(raw)
        if first["fingerprint"] != fp:
            raise IdempotencyConflict(
                "this Idempotency-Key was already used with a different request (another image or "
                "other form fields); use a new key for a new request")
        return Claim(first["ids"], first.get("answer"), replay=True)

    def remember(self, owner: str, key: str, fp: str, ids: dict[str, Any], answer: dict[str, Any]) -> None:
        """Store the first answer (the TTL runs from the claim)."""
        record = {"fingerprint": fp, "ids": ids, "answer": answer}
        self.redis.set(self._key(owner, key), json.dumps(record), xx=True, keepttl=True)

    def release(self, owner: str, key: str) -> None:
        self.redis.delete(self._key(owner, key))
