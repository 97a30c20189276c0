"""RQ's SimpleWorker with the service's guarantees: no job is lost or left `started` forever.

- Lease: the running job's registration is renewed from a thread (worker.lease), so a killed
  worker's job is seen as lost within `job_lease` seconds rather than after its whole timeout.
- Janitor: a thread sweeps for lost jobs every `janitor_interval` seconds (jobs.lost), and
  RQ's periodic maintenance runs the same sweep first so that its own cleanup, which would fail
  lost jobs without a retry, finds nothing left to do.
- Cold shutdown (a second SIGTERM): the interrupted job is queued again, with its upload, at the
  front of the queue, instead of being marked failed.
- CUDA out of memory: the job fails with a readable reason (worker.tasks) and the memory it left
  in PyTorch's cache is released before the next job (worker.gpu).
- Webhooks: a job with a callback_url that reached its final state is made due for delivery,
  which a thread of this worker (or any other) then sends (worker.webhooks).
"""
from __future__ import annotations

from typing import Any

from redis.exceptions import RedisError
from rq import SimpleWorker
from rq.executions import Execution
from rq.job import Job
from rq.queue import Queue

from jobs import meta, webhooks
from jobs.lost import Janitor, reap, requeue
from jobs.settings import Settings
from worker import gpu
from worker.lease import Lease
from worker.webhooks import Deliverer


class ReliableWorker(SimpleWorker):
    def __init__(self, *args: Any, settings: Settings, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.settings = settings
        self._lease: Lease | None = None
        self._interrupted: str | None = None
        self.janitor = Janitor(self.connection, settings)
        self.deliverer = Deliverer(self.connection, settings)

    def work(self, *args: Any, **kwargs: Any) -> bool:
        self.janitor.start()
        self.deliverer.start()
        try:
            return super().work(*args, **kwargs)
        finally:
            self.janitor.stop()
            self.deliverer.stop()

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        """How long the job's registration lasts without renewal: the lease, not the timeout."""
        return self.settings.job_lease

    def prepare_execution(self, job: Job) -> Execution:
        execution = super().prepare_execution(job)
        self._lease = Lease(self, job, execution, self.settings.job_lease,
                            limit=job.timeout or self.settings.job_timeout)
        self._lease.start()
        return execution

    def execute_job(self, job: Job, queue: Queue) -> None:
        try:
            super().execute_job(job, queue)
        finally:
            if self._lease is not None:
                self._lease.stop()
                self._lease = None
            gpu.release_after_job()

    def handle_exception(self, job: Job, *exc_info: Any) -> None:
        # SystemExit inside a job is RQ's cold shutdown only once a stop was asked for; a job
        # that exits by itself is an ordinary failure (else it would be queued again forever).
        if exc_info and isinstance(exc_info[1], (SystemExit, KeyboardInterrupt)) \
                and self._shutdown_requested_date is not None:
            self._interrupted = job.id
            self.log.warning("Worker %s: shutting down; job %s goes back to the front of the queue",
                             self.name, job.id)
            return
        super().handle_exception(job, *exc_info)

    def handle_job_failure(self, job: Job, queue: Queue, started_job_registry: Any = None,
                           exc_string: str = "", execution: Execution | None = None) -> None:
        if self._interrupted == job.id:
            self._interrupted = None
            with self.connection.pipeline() as pipe:
                self.cleanup_execution(job, pipeline=pipe, execution=execution)
                requeue(job, queue, pipe)
                pipe.execute()
            return
        super().handle_job_failure(job, queue, started_job_registry=started_job_registry,
                                   exc_string=exc_string, execution=execution)
        self._notify(job)

    def handle_job_success(self, job: Job, queue: Queue, started_job_registry: Any,
                           execution: Execution) -> None:
        super().handle_job_success(job, queue, started_job_registry, execution)
        self._notify(job)

    def _notify(self, job: Job) -> None:
        """After RQ stored the final status, so the delivered document shows it."""
        if not meta.callback_url(job):
            return
        try:
            webhooks.schedule(self.connection, self.settings, job.id)
        except RedisError as exc:  # Redis retries already ran out: the webhook is lost, say so
            self.log.error("Worker %s: webhook of job %s not scheduled: %s", self.name, job.id, exc)

    def clean_registries(self) -> None:
        reap(self.connection, self.settings)
        super().clean_registries()
