"""The reconstruction job: a finished explanation's map and kept image -> variations, stored.

Queued by app.recon_jobs with `depends_on` the explanation job, so RQ runs it only after that job
finished. Runs in the worker process like the explanation, so the model and its generator stay
loaded between jobs.
"""
from __future__ import annotations

import gzip
import io
import json
from typing import Any

import numpy as np
from rq import get_current_job

from app.recon_jobs import GRID, SUMMARY, ReconKeys, variation_name
from app.settings import get_settings
from app.store import Store
from saliency.errors import Cancelled, SaliencyError
from saliency.images import open_image
from saliency.reconstruction import reconstruct
from saliency.reconstruction.render import grid
from worker.task import Progress, readable


class SourceMissing(SaliencyError):
    pass


def run_reconstruction(recon_id: str, job_id: str, model: str, params: dict[str, Any]) -> dict[str, Any]:
    """Enqueued by app.recon_jobs by name. Returns the summary (also stored beside the pictures)."""
    job = get_current_job()
    if job is None:
        raise RuntimeError("run_reconstruction runs inside an RQ worker")
    settings = get_settings()
    store = Store(job.connection, settings)
    keys = ReconKeys(settings)
    redis = job.connection
    progress = Progress(job, store, settings.progress_interval)
    try:
        progress(0.0)  # canceled while it waited: stop before any work
        done = redis.hget(keys.result(recon_id), SUMMARY)
        if done is not None:  # run again after its finished status was lost: same results
            return json.loads(done)
        source = redis.get(keys.source(job_id))
        packed = store.get_artifact(job_id, "saliency.npy")
        explained = store.get_summary(job_id)
        if source is None or packed is None or explained is None:
            raise SourceMissing(f"the image or saliency map of job {job_id} has expired; submit it again")
        saliency = np.load(io.BytesIO(gzip.decompress(packed)))
        rec = reconstruct(open_image(source), saliency, model, target=explained["target"]["index"],
                          params=params, progress=progress)
        summary = rec.summary()
        fields = {SUMMARY: json.dumps(summary).encode(), GRID: _png(grid(rec))}
        for var in rec.variations:
            fields[variation_name(var.index)] = _png(rec.variation_image(var.index, rec.view))
        with redis.pipeline() as pipe:
            pipe.hset(keys.result(recon_id), mapping=fields)
            pipe.expire(keys.result(recon_id), settings.result_ttl)
            pipe.execute()
        job.meta["progress"] = 1.0
        job.save_meta()
        return summary
    except Cancelled:
        job.meta["canceled"] = True
        job.save_meta()
        raise
    except BaseException as exc:
        job.meta["error"] = readable(exc, job.timeout or settings.job_timeout)
        job.save_meta()
        raise


def _png(img) -> bytes:  # noqa: ANN001 - a PIL image
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()
