"""Which jobs each API key owns, newest first: the index behind GET /jobs.

Redis sorted sets (jobs.keys: index), scored by submit time (Unix seconds), members job ids:
every job of the owner ("" without auth), the owner's jobs on one model, and with one method.

All three are written in the submit transaction (jobs.submission). Each write drops entries older than
`horizon()` and renews the keys' TTL, so the index never outlives the jobs it points to by more
than that, and an owner who stops submitting leaves nothing behind.
"""
from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Iterator
from dataclasses import dataclass

from redis import Redis
from redis.client import Pipeline

from jobs.errors import BadCursor
from jobs.keys import Keys
from jobs.settings import Settings


@dataclass(frozen=True)
class Position:
    """Where a page ended: the last entry returned. Opaque to clients (see encode/decode)."""

    score: float
    job_id: str

    def encode(self) -> str:
        return base64.urlsafe_b64encode(f"{self.score!r}:{self.job_id}".encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, cursor: str) -> "Position":
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
            score, _, job_id = raw.partition(":")
            if not job_id or not math.isfinite(float(score)):
                raise ValueError(raw)
            return cls(float(score), job_id)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise BadCursor(f"not a cursor this API issued: {cursor!r}") from None


class JobIndex:
    def __init__(self, redis: Redis, settings: Settings) -> None:
        self.redis = redis
        self.settings = settings
        self.keys = Keys(settings.key_prefix)

    def horizon(self) -> int:
        """Seconds an entry is kept: the longest a job's data can live (queued, run, then kept)."""
        s = self.settings
        return s.upload_ttl + s.job_timeout + max(s.result_ttl, s.failure_ttl)

    def key(self, owner: str, model: str | None = None, method: str | None = None) -> str:
        """The narrowest index for the filters: model's if given, else method's, else all."""
        return self.keys.index(owner, model, method)

    def add(self, pipe: Pipeline, job_id: str, owner: str, model: str, method: str, when: float) -> None:
        """Queue the writes on the caller's transaction."""
        ttl = self.horizon()
        for key in (self.key(owner), self.key(owner, model=model), self.key(owner, method=method)):
            pipe.zadd(key, {job_id: when})
            pipe.zremrangebyscore(key, "-inf", f"({when - ttl!r}")
            pipe.expire(key, ttl)

    def forget(self, key: str, job_id: str) -> None:
        """Drop an entry whose job has expired; the other indexes lose theirs at the horizon."""
        self.redis.zrem(key, job_id)

    def walk(self, key: str, after: Position | None, chunk: int) -> Iterator[Position]:
        """Entries newest first, strictly after `after`, read `chunk` at a time: O(log N + chunk)
        per read. Equal scores are ordered by id (descending), so ties never repeat or vanish."""
        while True:
            if after is None:
                rows = self.redis.zrevrangebyscore(key, "+inf", "-inf", start=0, num=chunk, withscores=True)
            else:
                ties = self.redis.zcount(key, after.score, after.score)
                rows = self.redis.zrevrangebyscore(key, after.score, "-inf", start=0, num=chunk + ties,
                                                   withscores=True)
                rows = [(m, s) for m, s in rows if not (s == after.score and m.decode() >= after.job_id)]
            if not rows:
                return
            for member, score in rows:
                after = Position(score, member.decode())
                yield after
