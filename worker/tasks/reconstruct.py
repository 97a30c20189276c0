"""The reconstruction job: a finished explanation's map and kept image -> variations, stored.

Queued by jobs.reconstructions with `depends_on` the explanation job, so RQ runs it only after
that job finished. Runs in the worker process like the explanation, so the model and its
generator stay loaded between jobs.
"""
from __future__ import annotations

import json
from typing import Any

from rq import get_current_job

from jobs import meta
from jobs.reconstructions import GRID, SUMMARY, Reconstructions, variation_name
from jobs.settings import get_settings
from jobs.state import Jobs
from saliency.errors import Cancelled, SaliencyError
from saliency.images import open_image
from saliency.reconstruction import reconstruct
from saliency.reconstruction.render import grid
from worker.artifacts import load_map, png
from worker.progress import Progress
from worker.tasks.explain import readable


class SourceMissing(SaliencyError):
    status = 410
    code = "expired"


def run_reconstruction(recon_id: str, job_id: str, model: str, params: dict[str, Any]) -> dict[str, Any]:
    """Enqueued by jobs.reconstructions by name. Returns the summary (also stored beside the pictures)."""
    job = get_current_job()
    if job is None:
        raise RuntimeError("run_reconstruction runs inside an RQ worker")
    settings = get_settings()
    jobs = Jobs(job.connection, settings)
    recons = Reconstructions(jobs)
    progress = Progress(job, jobs.store, settings.progress_interval)
    try:
        progress(0.0)  # canceled while it waited: stop before any work
        done = recons.stored_summary(recon_id)
        if done is not None:  # run again after its finished status was lost: same results
            return done
        source = recons.source(job_id)
        packed = jobs.store.get_artifact(job_id, "saliency.npy")
        explained = jobs.store.get_summary(job_id)
        if source is None or packed is None or explained is None:
            raise SourceMissing(f"the image or saliency map of job {job_id} has expired; submit it again")
        rec = reconstruct(open_image(source), load_map(packed), model, target=explained["target"]["index"],
                          params=params, progress=progress)
        summary = rec.summary()
        fields = {SUMMARY: json.dumps(summary).encode(), GRID: png(grid(rec))}
        for var in rec.variations:
            fields[variation_name(var.index)] = png(rec.variation_image(var.index, rec.view))
        recons.store_result(recon_id, fields)
        meta.set_progress(job, 1.0)
        job.save_meta()
        return summary
    except Cancelled:
        meta.mark_canceled(job)
        job.save_meta()
        raise
    except BaseException as exc:
        meta.set_error(job, readable(exc, job.timeout or settings.job_timeout))
        job.save_meta()
        raise
