"""Webhook delivery: a thread in every worker POSTs the job document of each ended job that named
a callback_url, signed, and retries with exponential backoff.

Why a thread and a Redis due-set (jobs.webhooks) rather than RQ jobs: an attempt waits on
someone else's server for up to `webhook_timeout` seconds and a retry may be due minutes later;
on a thread beside the job loop neither ever delays the next explanation. Retries are due times
in Redis, not sleeps in a process, so they survive a worker restart and any worker sends them.
RQ's own scheduler (enqueue_in) was not used: it forks a process from a worker that may hold a
CUDA context.

Signature (README, "Webhooks"): `X-Saliency-Signature: sha256=<hex>` where hex is
HMAC-SHA256(SALIENCY_WEBHOOK_SECRET, f"{timestamp}." + body) and timestamp is the
`X-Saliency-Timestamp` header (unix seconds). Receivers recompute it over the exact bytes
received and refuse old timestamps, so a captured request cannot be replayed later.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import time

import httpx
from redis import Redis
from redis.exceptions import RedisError

from jobs import webhooks as webhook_log
from jobs.callbacks import check_callback_url
from jobs.document import JobView
from jobs.errors import CallbackRefused, JobExpired, JobNotFound
from jobs.periodic import Periodic
from jobs.settings import Settings
from jobs.state import Jobs
from worker.metrics import METRICS

log = logging.getLogger("worker.webhooks")
SIGNATURE = "X-Saliency-Signature"
TIMESTAMP = "X-Saliency-Timestamp"
POLL = 0.5  # most seconds between looks at the due set: a new delivery starts within this
RETRY_STATUS = frozenset({408, 425, 429})  # and every 5xx: the receiver may do better later


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Saliency-Signature value for `body` sent at `timestamp` (unix seconds, as text)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def backoff(settings: Settings, attempt: int) -> float:
    """Seconds before attempt `attempt + 1`: webhook_backoff doubled per failure, capped."""
    return min(settings.webhook_backoff * 2 ** (attempt - 1), settings.webhook_backoff_max)


def deliver(client: httpx.Client, redis: Redis, settings: Settings, job_id: str) -> str:
    """One attempt for one job. Returns delivered, retry, failed or gone (the job expired)."""
    number = len(webhook_log.attempts(redis, settings, job_id)) + 1
    try:
        view = JobView.of(Jobs(redis, settings).state(job_id))
    except (JobNotFound, JobExpired):
        redis.zrem(webhook_log.due_key(settings), job_id)
        return "gone"
    url = view.webhook.url if view.webhook else ""
    status, error, retryable = None, None, True
    try:
        check_callback_url(url, settings)
        if not settings.webhook_secret:
            raise RuntimeError("SALIENCY_WEBHOOK_SECRET is not set on this worker")
        body = view.model_dump_json().encode()
        stamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", TIMESTAMP: stamp,
                   SIGNATURE: sign(settings.webhook_secret, stamp, body),
                   "X-Saliency-Job": job_id, "X-Saliency-Attempt": str(number),
                   "User-Agent": "saliency-webhooks"}
        status = client.post(url, content=body, headers=headers).status_code
        if not 200 <= status < 300:
            error = f"HTTP {status}"
            retryable = status >= 500 or status in RETRY_STATUS
    except CallbackRefused as exc:
        error, retryable = f"callback URL refused: {exc}", False
    except (httpx.HTTPError, RuntimeError) as exc:
        error = f"{type(exc).__name__}: {exc}"
    ok = error is None
    retry_in = backoff(settings, number) if retryable and not ok and number < settings.webhook_attempts else None
    webhook_log.record(redis, settings, job_id, webhook_log.attempt_now(number, status, error, ok), retry_in)
    outcome = "delivered" if ok else ("retry" if retry_in is not None else "failed")
    METRICS.webhooks.labels(outcome).inc()
    log.log(logging.INFO if ok else logging.WARNING, "webhook of job %s, attempt %d: %s%s", job_id,
            number, outcome, "" if ok else f" ({error})")
    return outcome


class Deliverer(Periodic):
    """Claims due deliveries every POLL seconds and sends them, until stopped."""

    def __init__(self, redis: Redis, settings: Settings) -> None:
        super().__init__("webhooks")
        self.redis = redis
        self.settings = settings

    def run(self) -> None:
        lease = self.settings.webhook_timeout + 30  # an attempt cut off by a dying worker is retried
        with httpx.Client(timeout=self.settings.webhook_timeout, follow_redirects=False) as client:
            wait = POLL
            while not self.stopped.wait(wait):
                wait = POLL
                try:
                    for job_id in webhook_log.claim(self.redis, self.settings, lease):
                        deliver(client, self.redis, self.settings, job_id)
                    wait = min(POLL, webhook_log.next_due_in(self.redis, self.settings))  # a retry due soon
                except RedisError as exc:  # Redis restarting: claimed entries come back after the lease
                    log.warning("webhooks: %s", exc)
                except Exception:  # noqa: BLE001 - one bad record must not stop every delivery
                    log.exception("webhooks: delivery failed")
