"""The explanation job: one stored upload -> the library's explanation -> stored artifacts.

It runs inside the worker process (see worker.main for why), so `load_model` finds the model that
earlier jobs already put on the device.
"""
from __future__ import annotations

import logging
import time
from typing import Any

from rq import get_current_job
from rq.job import Job
from rq.timeouts import JobTimeoutException

from jobs import meta, webhooks
from jobs.settings import get_settings
from jobs.store import Store
from saliency import explain
from saliency.errors import Cancelled, ModelUnavailable, SaliencyError
from saliency.images import open_image
from worker import audit, gpu
from worker.artifacts import render
from worker.metrics import METRICS
from worker.progress import Progress

log = logging.getLogger("worker.tasks.explain")


class UploadMissing(SaliencyError):
    status = 410
    code = "expired"


def run_explanation(job_id: str, model: str, method: str, target: int | None,
                    params: dict[str, Any], metrics: list[str] | None = None) -> dict[str, Any]:
    """Enqueued by jobs.submission by name. Returns the summary (also stored beside the artifacts)."""
    job = get_current_job()
    if job is None:
        raise RuntimeError("run_explanation runs inside an RQ worker")
    settings = get_settings()
    store = Store(job.connection, settings)
    progress = Progress(job, store, settings)
    interrupted = False
    began, outcome, queries, reason = time.monotonic(), "failed", 0, "error"
    METRICS.started(model, method, _queue_wait(job))
    try:
        progress(0.0)  # a job canceled while it waited stops here, before any work
        webhooks.notify(job.connection, settings, job, "start")
        done = store.get_summary(job_id)
        if done is not None:  # run again after its finished status was lost (janitor): same results
            outcome = "finished"
            return done
        data = store.get_upload(job_id)
        if data is None:
            raise UploadMissing("the uploaded image expired before a worker took the job; submit it again")
        image = open_image(data)
        meta.set_audit(job, audit.start(model, method, job.worker_name))  # saved with the next progress write
        result = explain(image, model=model, method=method, target=target, params=params,
                         progress=progress, metrics=metrics)
        summary = result.summary()
        record = audit.finish(meta.audit(job) or {}, summary)
        meta.set_audit(job, record)
        store.put_result(job_id, summary, render(image, result.saliency, result.uncertainty))
        meta.set_progress(job, 1.0)
        job.save_meta()
        outcome, queries = "finished", record["queries"]["total"]
        return summary
    except Cancelled:
        outcome = "canceled"
        meta.mark_canceled(job)
        job.save_meta()
        raise
    except BaseException as exc:
        interrupted = isinstance(exc, (SystemExit, KeyboardInterrupt))
        reason = failure_reason(exc)
        gpu.note_failure(exc)
        meta.set_error(job, readable(exc, job.timeout or settings.job_timeout))
        job.save_meta()
        raise
    finally:
        if not interrupted:  # a stopping worker queues its job again (worker.reliable): keep the upload
            store.drop_upload(job_id)
            METRICS.ended(model, method, outcome, time.monotonic() - began, queries, reason)
        else:
            METRICS.busy.set(0)


def _queue_wait(job: Job) -> float | None:
    """Seconds from (latest) enqueue to start, by RQ's own timestamps."""
    if job.enqueued_at is None or job.started_at is None:
        return None
    return (job.started_at - job.enqueued_at).total_seconds()


def failure_reason(exc: BaseException) -> str:
    """The `reason` label of saliency_job_failures_total (jobs.events.FAILURE_REASONS)."""
    if isinstance(exc, JobTimeoutException):
        return "timeout"
    if gpu.is_oom(exc):
        return "out_of_memory"
    if isinstance(exc, UploadMissing):
        return "expired"
    if isinstance(exc, ModelUnavailable):
        return "model"
    return "invalid" if isinstance(exc, SaliencyError) else "error"


def readable(exc: BaseException, timeout: int) -> str:
    """A message for the person who submitted the job, not a traceback."""
    if isinstance(exc, SaliencyError):
        return str(exc)
    if gpu.is_oom(exc):
        return gpu.oom_message(exc)
    if isinstance(exc, JobTimeoutException):
        return f"the job ran longer than the limit of {timeout} s and was stopped"
    if isinstance(exc, (SystemExit, KeyboardInterrupt)):
        return "the worker was shut down while running this job; submit it again"
    return f"internal error in the worker ({type(exc).__name__}: {exc})"
