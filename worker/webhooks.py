"""Webhook delivery: a thread in every worker POSTs each due event of a job that named a
callback_url, signed in the Standard Webhooks format, and retries with exponential backoff.

Why a thread and a Redis due-set (jobs.webhooks) rather than RQ jobs: an attempt waits on
someone else's server for up to `webhook_timeout` seconds and a retry may be due minutes later;
on a thread beside the job loop neither ever delays the next explanation. Retries are due times
in Redis, not sleeps in a process, so they survive a worker restart and any worker sends them.
RQ's own scheduler (enqueue_in) was not used: it forks a process from a worker that may hold a
CUDA context.

A delivery (README, "Webhooks"): the body is {"type": "job.<event>", "timestamp", "data": the job
document}; the headers `webhook-id` (the same for every attempt of one event), `webhook-timestamp`
and `webhook-signature`, signed with the secret of the API key name that submitted the job
(jobs.webhook_secrets), so receivers verify with the standardwebhooks or svix libraries. The
connection goes to an address the callback check approved (jobs.callbacks.resolve_callback).
"""
from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timezone

import httpx
from redis import Redis
from redis.exceptions import RedisError

from jobs import queue
from jobs import webhooks as webhook_log
from jobs.callbacks import Callback, Resolver, resolve_callback
from jobs.document import JobView
from jobs.errors import CallbackRefused, JobExpired, JobNotFound
from jobs.periodic import Periodic
from jobs.settings import Settings
from jobs.state import Jobs
from jobs.webhook_secrets import WebhookSecrets, sign
from worker.metrics import METRICS

log = logging.getLogger("worker.webhooks")
POLL = 0.5  # most seconds between looks at the due set: a new delivery starts within this
RETRY_STATUS = frozenset({408, 425, 429})  # and every 5xx: the receiver may do better later


def backoff(settings: Settings, attempt: int) -> float:
    """Seconds before attempt `attempt + 1`: webhook_backoff doubled per failure, capped."""
    return min(settings.webhook_backoff * 2 ** (attempt - 1), settings.webhook_backoff_max)


def message_id(view: JobView, event: webhook_log.Event) -> str:
    """One id per event, kept across retries, so receivers can drop repeats; each progress
    event is its own message."""
    if event == "progress":
        return f"{view.job_id}.progress.{round(view.progress * 1000)}"
    return f"{view.job_id}.{event}"


def envelope(view: JobView, event: webhook_log.Event) -> bytes:
    return json.dumps({"type": f"job.{event}", "timestamp": datetime.now(timezone.utc).isoformat(),
                       "data": view.model_dump(mode="json")}, separators=(",", ":")).encode()


def post(client: httpx.Client, callback: Callback, body: bytes, headers: dict[str, str]) -> int:
    """POST to each approved address in turn until one connects; the name goes in Host and TLS."""
    extensions = {"sni_hostname": callback.host} if callback.url.startswith("https:") else {}
    for i, address in enumerate(callback.addresses):
        try:
            return client.post(callback.pinned_url(address), content=body, extensions=extensions,
                               headers={**headers, "Host": callback.host_header}).status_code
        except httpx.ConnectError:
            if i == len(callback.addresses) - 1:
                raise
    raise AssertionError("a callback has at least one address")


def deliver(client: httpx.Client, redis: Redis, settings: Settings, job_id: str,
            event: webhook_log.Event = "completed", resolve: Resolver | None = None) -> str:
    """One attempt of one event. Returns delivered, retry, failed or gone (nothing to send)."""
    jobs = Jobs(redis, settings)
    try:
        view = JobView.of(jobs.state(job_id))
    except (JobNotFound, JobExpired):
        view = None
    if view is None or view.webhook is None or (event == "progress" and view.status in queue.FINAL):
        webhook_log.drop(redis, settings, job_id, event)  # expired, or progress of a job that ended
        return "gone"
    number = sum(a.event == event for a in webhook_log.attempts(redis, settings, job_id)) + 1
    status, error, retryable = None, None, event != "progress"  # progress is never retried
    try:
        callback = resolve_callback(view.webhook.url, settings, resolve)
        if not settings.webhook_secret:
            raise RuntimeError("SALIENCY_WEBHOOK_SECRET is not set on this worker")
        body, stamp, msg_id = envelope(view, event), int(time.time()), message_id(view, event)
        owner = jobs.store.owner_of(job_id) or ""
        signatures = " ".join(sign(s, msg_id, stamp, body) for s in WebhookSecrets(redis, settings).signing(owner))
        headers = {"Content-Type": "application/json", "webhook-id": msg_id, "webhook-timestamp": str(stamp),
                   "webhook-signature": signatures, "User-Agent": "saliency-webhooks"}
        status = post(client, callback, body, headers)
        if not 200 <= status < 300:
            error = f"HTTP {status}"
            retryable = retryable and (status >= 500 or status in RETRY_STATUS)
    except CallbackRefused as exc:
        error, retryable = f"callback URL refused: {exc}", False
    except (httpx.HTTPError, RuntimeError) as exc:
        error = f"{type(exc).__name__}: {exc}"
    ok = error is None
    retry_in = backoff(settings, number) if retryable and not ok and number < settings.webhook_attempts else None
    webhook_log.record(redis, settings, job_id, webhook_log.attempt_now(event, number, status, error, ok), retry_in)
    outcome = "delivered" if ok else ("retry" if retry_in is not None else "failed")
    METRICS.webhooks.labels(outcome).inc()
    log.log(logging.INFO if ok else logging.WARNING, "webhook %s of job %s, attempt %d: %s%s", event, job_id,
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
                    for job_id, event in webhook_log.claim(self.redis, self.settings, lease):
                        deliver(client, self.redis, self.settings, job_id, event)
                    wait = min(POLL, webhook_log.next_due_in(self.redis, self.settings))  # a retry due soon
                except RedisError as exc:  # Redis restarting: claimed entries come back after the lease
                    log.warning("webhooks: %s", exc)
                except Exception:  # noqa: BLE001 - one bad record must not stop every delivery
                    log.exception("webhooks: delivery failed")
