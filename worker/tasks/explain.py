"""The job function RQ runs: one explanation from a stored upload to stored artifacts.

It runs inside the worker process (see worker.main for why), so `load_model` finds the model that
earlier jobs already put on the device.
"""
from __future__ import annotations

import gzip
import io
import logging
import time
from typing import Any

import numpy as np
from PIL import Image
from redis.exceptions import RedisError
from rq import get_current_job
from rq.job import Job
from rq.timeouts import JobTimeoutException

from app.settings import get_settings
from app.store import Store
from saliency import explain
from saliency.errors import Cancelled, SaliencyError
from saliency.images import ImageError, open_image
from saliency.render import heatmap, overlay
from worker import audit, gpu
from worker.metrics import METRICS

log = logging.getLogger("worker.task")


class UploadMissing(SaliencyError):
    pass


class Progress:
    """The library's progress callback: writes the fraction to the job's meta and checks the
    cancel flag, at most once per `interval` seconds so a fast method is not slowed by Redis."""

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
        self.job.meta["progress"] = round(min(max(float(fraction), 0.0), 1.0), 4)
        try:
            self.job.save_meta()
            canceled = self.store.cancel_requested(self.job.id)
        except RedisError as exc:  # Redis restarting: progress is best effort, the job goes on
            log.warning("job %s: progress not saved: %s", self.job.id, exc)
            return
        if canceled:
            raise Cancelled("canceled on request")


def run_explanation(job_id: str, model: str, method: str, target: int | None,
                    params: dict[str, Any], metrics: list[str] | None = None) -> dict[str, Any]:
    """Enqueued by app.jobs by name. Returns the summary (also stored beside the artifacts)."""
    job = get_current_job()
    if job is None:
        raise RuntimeError("run_explanation runs inside an RQ worker")
    settings = get_settings()
    store = Store(job.connection, settings)
    progress = Progress(job, store, settings.progress_interval)
    interrupted = False
    began, outcome, queries = time.monotonic(), "failed", 0
    METRICS.started(model, method, _queue_wait(job))
    try:
        progress(0.0)  # a job canceled while it waited stops here, before any work
        done = store.get_summary(job_id)
        if done is not None:  # run again after its finished status was lost (janitor): same results
            outcome = "finished"
            return done
        data = store.get_upload(job_id)
        if data is None:
            raise UploadMissing("the uploaded image expired before a worker took the job; submit it again")
        image = open_image(data)
        job.meta["audit"] = audit.start(model, job.worker_name)  # saved with the next progress write
        result = explain(image, model=model, method=method, target=target, params=params,
                         progress=progress, metrics=metrics)
        summary = result.summary()
        job.meta["audit"] = audit.finish(job.meta["audit"], summary)
        store.put_result(job_id, summary, render(image, result.saliency))
        job.meta["progress"] = 1.0
        job.save_meta()
        outcome, queries = "finished", job.meta["audit"]["queries"]["total"]
        return summary
    except Cancelled:
        outcome = "canceled"
        job.meta["canceled"] = True
        job.save_meta()
        raise
    except BaseException as exc:
        interrupted = isinstance(exc, (SystemExit, KeyboardInterrupt))
        gpu.note_failure(exc)
        job.meta["error"] = readable(exc, job.timeout or settings.job_timeout)
        job.save_meta()
        raise
    finally:
        if not interrupted:  # a stopping worker queues its job again (worker.main): keep the upload
            store.drop_upload(job_id)
            METRICS.ended(model, method, outcome, time.monotonic() - began, queries)
        else:
            METRICS.busy.set(0)


def _queue_wait(job: Job) -> float | None:
    """Seconds from (latest) enqueue to start, by RQ's own timestamps."""
    if job.enqueued_at is None or job.started_at is None:
        return None
    return (job.started_at - job.enqueued_at).total_seconds()


def render(image: Image.Image, saliency: np.ndarray) -> dict[str, bytes]:
    """The three artifacts: the float32 map as a gzipped .npy, the heatmap and the overlay."""
    buf = io.BytesIO()
    np.save(buf, saliency.astype(np.float32, copy=False))
    return {
        "saliency.npy": gzip.compress(buf.getvalue(), compresslevel=6),
        "saliency.png": _png(heatmap(saliency)),
        "overlay.png": _png(overlay(image, saliency)),
    }


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def readable(exc: BaseException, timeout: int) -> str:
    """A message for the person who submitted the job, not a traceback."""
    if isinstance(exc, (SaliencyError, ImageError)):
        return str(exc)
    if gpu.is_oom(exc):
        return gpu.oom_message(exc)
    if isinstance(exc, JobTimeoutException):
        return f"the job ran longer than the limit of {timeout} s and was stopped"
    if isinstance(exc, (SystemExit, KeyboardInterrupt)):
        return "the worker was shut down while running this job; submit it again"
    return f"internal error in the worker ({type(exc).__name__}: {exc})"
