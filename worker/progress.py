"""The library's progress callback inside a job: writes the fraction to the job's meta and checks
the cancel flag, at most once per `progress_interval` seconds so a fast method is not slowed by
Redis; and, when the submitter asked for `progress` webhook events, makes one due at most once per
`webhook_progress_interval` seconds while the fraction moves (jobs.webhooks)."""
from __future__ import annotations

import logging
import time

from redis.exceptions import RedisError
from rq.job import Job

from jobs import meta, webhooks
from jobs.settings import Settings
from jobs.store import Store
from saliency.errors import Cancelled

log = logging.getLogger("worker.progress")


class Progress:
    def __init__(self, job: Job, store: Store, settings: Settings) -> None:
        self.job = job
        self.store = store
        self.settings = settings
        self.interval = settings.progress_interval
        self.hooks = "progress" in webhooks.events_of(job)
        self._last = float("-inf")
        self._hooked_at, self._hooked = float("-inf"), 0.0

    def __call__(self, fraction: float) -> None:
        now = time.monotonic()
        if now - self._last < self.interval:
            return
        self._last = now
        meta.set_progress(self.job, fraction)
        try:
            self.job.save_meta()
            canceled = self.store.cancel_requested(self.job.id)
            if self._hook_due(now, fraction):
                webhooks.schedule(self.job.connection, self.settings, self.job.id, "progress")
                self._hooked_at, self._hooked = now, fraction
        except RedisError as exc:  # Redis restarting: progress is best effort, the job goes on
            log.warning("job %s: progress not saved: %s", self.job.id, exc)
            return
        if canceled:
            raise Cancelled("canceled on request")

    def _hook_due(self, now: float, fraction: float) -> bool:
        return (self.hooks and fraction > self._hooked
                and now - self._hooked_at >= self.settings.webhook_progress_interval)
