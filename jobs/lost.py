"""Lost jobs: a running job whose worker went silent is queued again, or failed with a reason.

Policy (README, "Guarantees and limits"):
- A worker renews a lease on its running job every `job_lease / 3` seconds (worker.lease). A job
  whose lease ran out counts as lost: its worker was killed, its machine died, or it hangs.
- A janitor sweeps every `janitor_interval` seconds, in every worker and in every API process
  (so lost jobs are handled even when no worker is left). A lost job is queued again, at the
  front, up to `lost_job_retries` times; the next loss marks it failed with the reason. A job
  that was already past its time limit, or that its owner asked to cancel, is not run again.
  So a lost job leaves `started` within `job_lease + janitor_interval` seconds.
- A worker stopped by a second SIGTERM (cold shutdown) queues its job again itself (`requeue`
  below); that does not count as a loss.

The janitor thread runs in every worker (worker.reliable) and every API process (app.main).

Several janitors may sweep at once: each decision is one WATCH/MULTI transaction on the started
registry and the job, so a job is queued again or failed once, and a lease renewed in the
meantime (a slow worker, not a dead one) cancels the decision.
"""
from __future__ import annotations

import logging
import time
from typing import Literal

from redis import Redis
from redis.client import Pipeline
from redis.exceptions import RedisError, WatchError
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.job_lifecycle import record_job_failure
from rq.utils import now, parse_composite_key

from jobs import meta, queue, webhooks
from jobs.periodic import Periodic
from jobs.settings import Settings
from jobs.store import Store

log = logging.getLogger("jobs.lost")
Decision = Literal["requeued", "failed", "canceled"]


def reap(redis: Redis, settings: Settings, cutoff: float | None = None) -> list[tuple[str, str]]:
    """One sweep: every job whose lease ended before `cutoff` (default now) is queued again or
    failed. Returns (job id, "requeued" | "failed" | "canceled") for each job it acted on."""
    q = queue.explain_queue(redis, settings)
    key = q.started_job_registry.key
    cutoff = time.time() if cutoff is None else cutoff
    done = []
    for entry in redis.zrangebyscore(key, 0, cutoff):
        outcome = _reap_entry(redis, q, key, entry.decode(), cutoff, settings)
        if outcome is not None:
            done.append(outcome)
    return done


def _reap_entry(redis: Redis, q: Queue, key: str, entry: str, cutoff: float,
                settings: Settings) -> tuple[str, str] | None:
    job_id, _ = parse_composite_key(entry)
    with redis.pipeline() as pipe:
        for _ in range(10):  # a job written to all the time is left to the next sweep
            try:
                pipe.watch(key, Job.key_for(job_id))
                score = pipe.zscore(key, entry)
                if score is None or score > cutoff:
                    return None  # another janitor took it, or its lease was renewed meanwhile
                try:
                    job = queue.fetch(redis, job_id)
                except NoSuchJobError:
                    job = None
                pipe.multi()
                pipe.zrem(key, entry)
                if job is None or job.get_status(refresh=False) != JobStatus.STARTED:
                    pipe.execute()  # a leftover entry of a job that ended normally
                    return None
                action = _decide(job, q, pipe, settings)
                pipe.execute()
                log.warning("janitor: job %s lost its worker; %s", job_id, action)
                return job_id, action
            except WatchError:
                continue
    return None


def decide(*, cancel_requested: bool, ran: float, timeout: float, lost: int,
           retries: int) -> tuple[Decision, str | None]:
    """What happens to a job whose worker was lost for the `lost`-th time: the decision, and the
    reason it failed (None when it runs again)."""
    if cancel_requested:
        return "canceled", "canceled on request while its worker was lost"
    if ran >= timeout:
        return "failed", f"the job ran past its time limit of {timeout:g} s and its worker stopped responding"
    if lost <= retries:
        return "requeued", None
    return "failed", (f"its worker was lost {lost} times while running it (killed, out of memory, or "
                      "its machine stopped); it was not run again")


def _decide(job: Job, q: Queue, pipe: Pipeline, settings: Settings) -> str:
    timeout = job.timeout or settings.job_timeout
    action, reason = decide(cancel_requested=Store(q.connection, settings).cancel_requested(job.id),
                            ran=(now() - job.started_at).total_seconds() if job.started_at else 0.0,
                            timeout=timeout, lost=meta.count_loss(job), retries=settings.lost_job_retries)
    if action == "canceled":
        meta.mark_canceled(job)
    if reason is None:
        _enqueue_again(job, q, pipe)
    else:
        _fail(job, pipe, settings, reason)
    return action


def _fail(job: Job, pipe: Pipeline, settings: Settings, reason: str) -> None:
    meta.set_error(job, reason)
    job.ended_at = now()
    job.save(pipeline=pipe)  # meta and ended_at; the failure record below sets status and TTL
    record_job_failure(job, f"lost job: {reason}", pipe)
    Store(job.connection, settings).drop_upload(job.id, pipe=pipe)
    if meta.callback_url(job):
        webhooks.schedule(pipe, settings, job.id)  # with the failure, in one transaction


def requeue(job: Job, q: Queue, pipe: Pipeline) -> None:
    """Put a job that a stopping worker interrupted back at the front of its queue (in `pipe`)."""
    meta.count_interruption(job)
    meta.clear_error(job)
    _enqueue_again(job, q, pipe)


def _enqueue_again(job: Job, q: Queue, pipe: Pipeline) -> None:
    """Queued again at the front, as it was submitted (upload, id and owner are untouched). Done
    by hand rather than with Queue.enqueue_job, which may WATCH and so cannot join a MULTI."""
    meta.set_progress(job, 0.0)
    job.started_at = job.ended_at = None
    job.set_status(JobStatus.QUEUED, pipeline=pipe)
    job.save(pipeline=pipe)
    if job.ttl:
        pipe.expire(job.key, job.ttl)
    q.push_job_id(job.id, pipeline=pipe, at_front=True)


class Janitor(Periodic):
    """Runs `reap` every `settings.janitor_interval` seconds until stopped."""

    def __init__(self, redis: Redis, settings: Settings) -> None:
        super().__init__("janitor")
        self.redis = redis
        self.settings = settings

    def run(self) -> None:
        while not self.stopped.wait(self.settings.janitor_interval):
            try:
                reap(self.redis, self.settings)
            except RedisError as exc:  # Redis down: the next sweep tries again
                log.warning("janitor: sweep failed: %s", exc)
            except Exception:  # noqa: BLE001 - the janitor must outlive any one bad record
                log.exception("janitor: sweep failed")
