"""The lease a worker holds on its running job, renewed from a thread while the job runs.

RQ's SimpleWorker registers a running job in the started registry with an expiry of the job's
timeout plus a minute and never renews it, so a killed worker's job would look `started` for that
long (ten minutes and more by default) and then be failed by RQ's maintenance, if any worker was
left to run it. Here the registration lasts `job_lease` seconds and this thread renews it every
third of that; when the process dies the renewals stop and the janitor (worker.janitor) sees the
job as lost within a lease.

Renewals stop once the job has run past its time limit: the SIGALRM that enforces the limit
should have ended it by then, so a job still running is stuck in native code, and letting the
lease run out hands it to the janitor instead of keeping it `started` forever.
"""
from __future__ import annotations

import logging
import time

from redis.exceptions import RedisError
from rq.executions import Execution
from rq.job import Job
from rq.worker import BaseWorker

from jobs.periodic import Periodic

log = logging.getLogger("worker.lease")


class Lease(Periodic):
    def __init__(self, worker: BaseWorker, job: Job, execution: Execution, lease: int, limit: float) -> None:
        super().__init__(f"lease-{job.id[:8]}")
        self.worker = worker
        self.job = job
        self.execution = execution
        self.lease = lease
        self.deadline = time.monotonic() + limit

    def run(self) -> None:
        while not self.stopped.wait(self.lease / 3):
            if time.monotonic() > self.deadline:
                log.error("job %s ran past its time limit and did not stop; no longer renewing its lease",
                          self.job.id)
                return
            try:
                with self.worker.connection.pipeline() as pipe:
                    # ZADD XX: an entry the janitor already removed is not brought back.
                    self.execution.heartbeat(self.job.started_job_registry, self.lease, pipeline=pipe)
                    self.worker.heartbeat(pipeline=pipe)
                    pipe.execute()
            except RedisError as exc:  # Redis restarting: the next renewal tries again
                log.warning("could not renew the lease of job %s: %s", self.job.id, exc)

    def stop(self) -> None:
        super().stop()
        self.join(timeout=5)
