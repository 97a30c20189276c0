"""Reconstructions: plausible variations of a job's salient region (saliency.reconstruction),
computed by a worker after the explanation as a dependent job (jobs.reconstructions).

    POST /explain with reconstruct=true      queue one with the explanation
    POST /jobs/{id}/reconstructions          queue one for a submitted or finished job
    GET  /jobs/{id}/reconstructions          the job's reconstruction ids
    GET  /jobs/{id}/reconstructions/{rid}    status, progress, per-variation results
    GET  .../{rid}/variations.png, .../{rid}/variation-{k}.png   the pictures

A model without a generator answers 422 (`no_generator`).
"""
from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Body, Response

from app.deps import CatalogDep, JobsDep, ReconsDep
from app.schemas import ReconSubmitted, ReconView, errors
from jobs.errors import JobConflict, JobNotFound
from jobs.reconstructions import recon_url
from jobs.validation import check_reconstruction
from saliency.errors import NoGenerator

router = APIRouter(tags=["reconstructions"])
_PICTURE = re.compile(r"^(variations|variation-\d{1,4})\.png$")


@router.post("/jobs/{job_id}/reconstructions", status_code=202, response_model=ReconSubmitted,
             responses=errors(404, 409, 410, 422))
def submit_reconstruction(job_id: str, jobs: JobsDep, recons: ReconsDep, catalog: CatalogDep, response: Response,
                          params: Annotated[dict[str, Any] | None, Body(description="options; see the "
                                            "library's ReconstructionParams")] = None) -> ReconSubmitted:
    """Reconstruct the salient region of a job (queued, running or finished)."""
    state = jobs.state(job_id)
    model = state.request.get("model", "")
    if not catalog.get(model).generator:
        raise NoGenerator(f"model {model!r} declares no generator, so its salient region cannot be reconstructed")
    parsed = check_reconstruction(params, "params")
    if state.status in ("failed", "canceled"):
        raise JobConflict(f"job {job_id} {state.status}; there is no saliency map to reconstruct from")
    recon_id = recons.submit(job_id, model, parsed)
    response.headers["Location"] = recon_url(job_id, recon_id)
    return ReconSubmitted(reconstruction_id=recon_id, job_id=job_id, link=recon_url(job_id, recon_id))


@router.get("/jobs/{job_id}/reconstructions", response_model=list[str], responses=errors(404, 410))
def list_reconstructions(job_id: str, jobs: JobsDep, recons: ReconsDep) -> list[str]:
    jobs.state(job_id)  # 404 / 410 for the job itself
    return recons.ids(job_id)


@router.get("/jobs/{job_id}/reconstructions/{recon_id}", response_model=ReconView, responses=errors(404, 410))
def reconstruction(job_id: str, recon_id: str, recons: ReconsDep) -> ReconView:
    return ReconView.of(recons.state(job_id, recon_id))


@router.delete("/jobs/{job_id}/reconstructions/{recon_id}", response_model=ReconView,
               responses=errors(404, 409, 410))
def cancel_reconstruction(job_id: str, recon_id: str, recons: ReconsDep, response: Response) -> ReconView:
    """Cancel a waiting reconstruction (200) or ask a running one to stop (202)."""
    view = ReconView.of(recons.cancel(job_id, recon_id))
    response.status_code = 200 if view.status == "canceled" else 202
    return view


@router.get("/jobs/{job_id}/reconstructions/{recon_id}/{name}", response_class=Response,
            responses={200: {"content": {"image/png": {}}}, **errors(404, 409, 410)},
            description="variations.png (grid: the hidden region, then each variation framed green "
                        "when the class held, red when it changed) or variation-<k>.png")
def reconstruction_picture(job_id: str, recon_id: str, name: str, recons: ReconsDep) -> Response:
    if not _PICTURE.match(name):
        raise JobNotFound(f"no picture {name!r}; variations.png or variation-<k>.png")
    data = recons.picture(job_id, recon_id, name)
    return Response(data, media_type="image/png",
                    headers={"Content-Disposition": f'inline; filename="{recon_id}-{name}"'})
