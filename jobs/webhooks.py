"""Webhook deliveries in Redis: which events of which job are due when, and every attempt made,
for GET /jobs/{id}.

    webhooks:due    sorted set: "{job id}:{event}" -> unix time its next attempt is due
    webhook:{id}    list of attempts (JSON: event, attempt, at, status_code, error, ok), record_ttl

Events (the `webhook_events_filter` of a submission, like Replicate's; default `completed`):
- `start`: a worker took the job;
- `progress`: the job's progress moved, at most once per `webhook_progress_interval` seconds, and
  never retried (the next one, or `completed`, supersedes it);
- `completed`: the job reached a final state (finished, failed or canceled).

A job's event is made due (`notify`) by whoever causes it: its worker (worker.reliable,
worker.progress, worker.tasks), jobs.lost, jobs.state for a queued job canceled. Each worker's
delivery thread (worker.webhooks) claims due entries atomically, pushing their time a lease ahead,
so that one worker sends each attempt and a worker that dies mid-attempt leaves the entry to be
claimed again after the lease: delivery is at least once, and pending retries survive any worker.
"""
from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, Field
from redis import Redis
from redis.client import Pipeline
from rq.job import Job

from jobs import meta
from jobs.keys import Keys
from jobs.settings import Settings
from saliency.errors import InvalidParams

Event = Literal["start", "progress", "completed"]
EVENTS: tuple[Event, ...] = ("start", "progress", "completed")
DEFAULT_EVENTS: list[Event] = ["completed"]
FIELD = "webhook_events_filter"

# Claim up to ARGV[3] entries due by ARGV[1]: their due time becomes ARGV[2] (now + lease).
_CLAIM = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], ARGV[2], id) end
return ids
"""


class Delivery(BaseModel):
    event: Event = Field("completed", description="the event this attempt delivered")
    attempt: int = Field(description="1 for the first try of this event")
    at: datetime = Field(description="when the attempt was sent")
    status_code: int | None = Field(description="the receiver's HTTP status; null on a network error")
    error: str | None = Field(description="the network error, or why the status was not a success")
    ok: bool = Field(description="a 2xx answer")


class WebhookView(BaseModel):
    url: str
    events: list[Event] = Field(default_factory=lambda: list(DEFAULT_EVENTS),
                                description="the events delivered (webhook_events_filter)")
    state: Literal["waiting", "pending", "delivered", "failed"] = Field(
        description="of the `completed` event: waiting: the job has not ended; pending: an attempt is "
                    "due; delivered: a 2xx answer; failed: attempts exhausted or a final 4xx")
    next_attempt_at: datetime | None = None
    attempts: list[Delivery] = Field(default_factory=list)


def parse_events(raw: str | list[str] | None) -> list[Event] | None:
    """The `webhook_events_filter` field (JSON list or comma-separated); None when absent."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if isinstance(raw, str):
        try:
            value = json.loads(raw) if raw.strip().startswith("[") else raw.split(",")
        except json.JSONDecodeError as exc:
            raise InvalidParams(FIELD, f"not valid JSON ({exc}); send e.g. [\"start\", \"completed\"] "
                                       "or start,completed") from None
    else:
        value = raw
    names = [str(v).strip() for v in value if str(v).strip()]
    unknown = sorted(set(names) - set(EVENTS))
    if unknown or not names:
        raise InvalidParams(FIELD, f"unknown events {unknown}; choose from {', '.join(EVENTS)}" if unknown
                            else f"name at least one event of {', '.join(EVENTS)}")
    return [e for e in EVENTS if e in names]  # type: ignore[misc]


def due_key(settings: Settings) -> str:
    return Keys(settings.key_prefix).webhooks_due()


def _log_key(settings: Settings, job_id: str) -> str:
    return Keys(settings.key_prefix).webhook(job_id)


def _member(job_id: str, event: Event) -> str:
    return f"{job_id}:{event}"


def split(member: str) -> tuple[str, Event]:
    """A due entry as (job id, event); a bare job id (from before events) is `completed`."""
    job_id, _, event = member.partition(":")
    return job_id, event if event in EVENTS else "completed"  # type: ignore[return-value]


def events_of(job: Job) -> list[Event]:
    """The events a job's submitter asked for; none without a callback URL."""
    if not meta.callback_url(job):
        return []
    return meta.webhook_events(job) or list(DEFAULT_EVENTS)  # type: ignore[return-value]


def notify(conn: Redis | Pipeline, settings: Settings, job: Job, event: Event) -> bool:
    """Make `event` of `job` due now, if its submitter asked for it; returns whether it did."""
    if event not in events_of(job):
        return False
    schedule(conn, settings, job.id, event)
    return True


def schedule(conn: Redis | Pipeline, settings: Settings, job_id: str, event: Event = "completed",
             delay: float = 0.0) -> None:
    """Make a delivery due in `delay` seconds (in `conn`'s transaction when it is a pipeline)."""
    conn.zadd(due_key(settings), {_member(job_id, event): time.time() + delay})


def claim(redis: Redis, settings: Settings, lease: float, limit: int = 10) -> list[tuple[str, Event]]:
    now = time.time()
    members = redis.eval(_CLAIM, 1, due_key(settings), now, now + lease, limit)
    return [split(m.decode() if isinstance(m, bytes) else m) for m in members]


def drop(redis: Redis, settings: Settings, job_id: str, event: Event) -> None:
    """An entry nobody will send (its job expired, or a progress event of a job that ended)."""
    redis.zrem(due_key(settings), _member(job_id, event), *([job_id] if event == "completed" else []))


def next_due_in(redis: Redis, settings: Settings) -> float:
    """Seconds until the earliest entry is due (0 when one is due now; inf when none)."""
    first = redis.zrange(due_key(settings), 0, 0, withscores=True)
    return max(0.0, first[0][1] - time.time()) if first else float("inf")


def record(redis: Redis, settings: Settings, job_id: str, attempt: Delivery, retry_in: float | None) -> None:
    """Append the attempt; then either due again in `retry_in` seconds or done (None)."""
    key = _log_key(settings, job_id)
    with redis.pipeline() as pipe:
        pipe.rpush(key, attempt.model_dump_json())
        pipe.expire(key, settings.record_ttl)
        if retry_in is None:
            pipe.zrem(due_key(settings), _member(job_id, attempt.event))
            if attempt.event == "completed":
                pipe.zrem(due_key(settings), job_id)  # an entry from before events
        else:
            schedule(pipe, settings, job_id, attempt.event, retry_in)
        pipe.execute()


def attempts(redis: Redis, settings: Settings, job_id: str) -> list[Delivery]:
    return [Delivery.model_validate_json(raw) for raw in redis.lrange(_log_key(settings, job_id), 0, -1)]


def forget(pipe: Pipeline, settings: Settings, job_id: str) -> None:
    """DELETE /jobs/{id}: the attempts and anything still due, in the caller's transaction."""
    pipe.delete(_log_key(settings, job_id))
    pipe.zrem(due_key(settings), job_id, *(_member(job_id, e) for e in EVENTS))


def describe(redis: Redis, settings: Settings, job: Job, ended: bool) -> dict[str, Any]:
    """The webhook part of a job's state (a WebhookView as a dict)."""
    done = attempts(redis, settings, job.id)
    final = [a for a in done if a.event == "completed"]
    scores = redis.zmscore(due_key(settings), [_member(job.id, "completed"), job.id])
    due = next((s for s in scores if s is not None), None)
    if final and final[-1].ok:
        state = "delivered"
    elif due is not None:
        state = "pending"
    elif final:
        state = "failed"
    else:
        state = "pending" if ended else "waiting"
    next_at = datetime.fromtimestamp(due, timezone.utc) if due is not None else None
    return WebhookView(url=meta.callback_url(job) or "", events=events_of(job), state=state,
                       next_attempt_at=next_at, attempts=done).model_dump(mode="json")


def attempt_now(event: Event, attempt: int, status_code: int | None, error: str | None, ok: bool) -> Delivery:
    return Delivery(event=event, attempt=attempt, at=datetime.now(timezone.utc), status_code=status_code,
                    error=error, ok=ok)
