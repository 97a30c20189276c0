"""The library's progress callback inside a job: writes the fraction to the job's meta and checks
the cancel flag, at most once per `interval` seconds so a fast method is not slowed by Redis."""
from __future__ import annotations

import logging
import time

from redis.exceptions import RedisError
from rq.job import Job

from jobs import meta
from jobs.store import Store
from saliency.errors import Cancelled

log = logging.getLogger("worker.progress")


class Progress:
    def __init__(self, job: Job, store: Store, interval: float) -> None:
        self.job = job
        self.store = store
        self.interval = interval
        self._last = float("-inf")

    def __call__(self, fraction: float) -> None:
        now = time.monotonic()
        if now - self._last < self.interval:
            return
        self._last = now
        meta.set_progress(self.job, fraction)
        try:
            self.job.save_meta()
            canceled = self.store.cancel_requested(self.job.id)
        except RedisError as exc:  # Redis restarting: progress is best effort, the job goes on
            log.warning("job %s: progress not saved: %s", self.job.id, exc)
            return
        if canceled:
            raise Cancelled("canceled on request")
