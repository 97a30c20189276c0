"""Webhook deliveries in Redis: what is due when, and every attempt made, for GET /jobs/{id}.

    webhooks:due    sorted set: job id -> unix time its next attempt is due
    webhook:{id}    list of attempts (JSON: attempt, at, status_code, error, ok), record_ttl

A job that reaches a final state with a callback_url is added to the due set (worker.reliable,
jobs.lost, jobs.state for a queued job canceled). Each worker's delivery thread (worker.webhooks)
claims due entries atomically, pushing their time a lease ahead, so that one worker sends each
attempt and a worker that dies mid-attempt leaves the entry to be claimed again after the lease:
delivery is at least once, and pending retries survive any worker.
"""
from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, Field
from redis import Redis
from redis.client import Pipeline

from jobs.keys import Keys
from jobs.settings import Settings

# Claim up to ARGV[3] entries due by ARGV[1]: their due time becomes ARGV[2] (now + lease).
_CLAIM = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], ARGV[2], id) end
return ids
"""


class Delivery(BaseModel):
    attempt: int = Field(description="1 for the first try")
    at: datetime = Field(description="when the attempt was sent")
    status_code: int | None = Field(description="the receiver's HTTP status; null on a network error")
    error: str | None = Field(description="the network error, or why the status was not a success")
    ok: bool = Field(description="a 2xx answer")


class WebhookView(BaseModel):
    url: str
    state: Literal["waiting", "pending", "delivered", "failed"] = Field(
        description="waiting: the job has not ended; pending: an attempt is due; delivered: a 2xx "
                    "answer; failed: attempts exhausted or a final 4xx")
    next_attempt_at: datetime | None = None
    attempts: list[Delivery] = Field(default_factory=list)


def due_key(settings: Settings) -> str:
    return Keys(settings.key_prefix).webhooks_due()


def _log_key(settings: Settings, job_id: str) -> str:
    return Keys(settings.key_prefix).webhook(job_id)


def schedule(conn: Redis | Pipeline, settings: Settings, job_id: str, delay: float = 0.0) -> None:
    """Make a delivery due in `delay` seconds (in `conn`'s transaction when it is a pipeline)."""
    conn.zadd(due_key(settings), {job_id: time.time() + delay})


def claim(redis: Redis, settings: Settings, lease: float, limit: int = 10) -> list[str]:
    now = time.time()
    ids = redis.eval(_CLAIM, 1, due_key(settings), now, now + lease, limit)
    return [i.decode() if isinstance(i, bytes) else i for i in ids]


def next_due_in(redis: Redis, settings: Settings) -> float:
    """Seconds until the earliest entry is due (0 when one is due now; inf when none)."""
    first = redis.zrange(due_key(settings), 0, 0, withscores=True)
    return max(0.0, first[0][1] - time.time()) if first else float("inf")


def record(redis: Redis, settings: Settings, job_id: str, attempt: Delivery,
           retry_in: float | None) -> None:
    """Append the attempt; then either due again in `retry_in` seconds or done (None)."""
    key = _log_key(settings, job_id)
    with redis.pipeline() as pipe:
        pipe.rpush(key, attempt.model_dump_json())
        pipe.expire(key, settings.record_ttl)
        if retry_in is None:
            pipe.zrem(due_key(settings), job_id)
        else:
            schedule(pipe, settings, job_id, retry_in)
        pipe.execute()


def attempts(redis: Redis, settings: Settings, job_id: str) -> list[Delivery]:
    return [Delivery.model_validate_json(raw) for raw in redis.lrange(_log_key(settings, job_id), 0, -1)]


def describe(redis: Redis, settings: Settings, job_id: str, url: str, ended: bool) -> dict[str, Any]:
    """The webhook part of a job's state (a WebhookView as a dict)."""
    done = attempts(redis, settings, job_id)
    due = redis.zscore(due_key(settings), job_id)
    if done and done[-1].ok:
        state = "delivered"
    elif due is not None:
        state = "pending"
    elif done:
        state = "failed"
    else:
        state = "pending" if ended else "waiting"
    next_at = datetime.fromtimestamp(due, timezone.utc) if due is not None else None
    return WebhookView(url=url, state=state, next_attempt_at=next_at, attempts=done).model_dump(mode="json")


def attempt_now(attempt: int, status_code: int | None, error: str | None, ok: bool) -> Delivery:
    return Delivery(attempt=attempt, at=datetime.now(timezone.utc), status_code=status_code,
                    error=error, ok=ok)

