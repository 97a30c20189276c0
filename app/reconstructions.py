"""HTTP routes of reconstructions: plausible variations of a job's salient region (see
saliency.reconstruction), computed by a worker after the explanation as a dependent job.

    POST /explain with reconstruct=true      queue one with the explanation
    POST /jobs/{id}/reconstructions          queue one for a submitted or finished job
    GET  /jobs/{id}/reconstructions          the job's reconstruction ids
    GET  /jobs/{id}/reconstructions/{rid}    status, progress, per-variation results
    GET  .../{rid}/variations.png, .../{rid}/variation-{k}.png   the pictures

A model without a generator answers 422 (`no_generator`).
"""
from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Request, Response
from pydantic import BaseModel, Field

from app.jobs import JobConflict, JobNotFound, Jobs
from app.recon_jobs import GRID, ReconState, Reconstructions, variation_name
from app.schemas import ErrorBody, Lifecycle
from app.validation import FieldError
from saliency.errors import InvalidParams
from saliency.models import get_spec
from saliency.reconstruction.params import parse_params

router = APIRouter(tags=["reconstructions"])
_PICTURE = re.compile(r"^(variations|variation-\d{1,4})\.png$")


def recons_of(request: Request) -> Reconstructions:
    jobs: Jobs = request.app.state.jobs
    return Reconstructions(jobs)


ReconsDep = Annotated[Reconstructions, Depends(recons_of)]


def _errors(*codes: int) -> dict[int | str, dict]:
    return {code: {"model": ErrorBody} for code in codes}


def check(model: str, raw: str | dict[str, Any] | None, field: str = "reconstruct_params") -> dict[str, Any]:
    """The parsed reconstruction options, or FieldError (422): no generator, or a bad option."""
    if get_spec(model).generator is None:
        raise FieldError("reconstruct", f"model {model!r} declares no generator, so its salient region "
                                        "cannot be reconstructed", "no_generator")
    value: Any = raw
    if isinstance(raw, str):
        try:
            value = json.loads(raw) if raw.strip() else None
        except json.JSONDecodeError as exc:
            raise FieldError(field, f"not valid JSON: {exc}", "invalid_params") from None
    try:
        return parse_params(value).model_dump(mode="json")
    except InvalidParams as exc:
        raise FieldError(field + exc.field.removeprefix("params"), str(exc), "invalid_params") from None


def recon_url(job_id: str, recon_id: str) -> str:
    return f"/jobs/{job_id}/reconstructions/{recon_id}"


class ReconSubmitted(BaseModel):
    reconstruction_id: str
    job_id: str
    status: Literal["queued"] = "queued"
    link: str


class ReconVariation(BaseModel):
    index: int
    predicted: dict[str, Any] = Field(description="the model's top-1 class on the variation")
    target_probability: float
    held: bool = Field(description="top-1 class unchanged from the original image")
    context_loss: float
    distance_to_original: float = Field(description="RMS difference from the hidden pixels, in [0, 1]")
    near_copy: bool
    picture: str


class ReconView(Lifecycle):
    reconstruction_id: str
    job_id: str
    params: dict[str, Any]
    error: str | None
    acceptance: float | None = Field(None, description="share of variations whose top-1 class held")
    mean_target_probability: float | None = None
    diversity: float | None = Field(None, description="mean pairwise RMS difference inside the hole")
    near_copy_floor: float | None = None
    result: dict[str, Any] | None = Field(None, description="boxes, target, timing (see the library)")
    variations: list[ReconVariation] = []
    pictures: dict[str, str] = {}

    @classmethod
    def of(cls, s: ReconState) -> "ReconView":
        base = recon_url(s.job_id, s.recon_id)
        view = cls(reconstruction_id=s.recon_id, job_id=s.job_id, status=s.status, progress=s.progress,
                   created_at=s.created_at, started_at=s.started_at, ended_at=s.ended_at, params=s.params,
                   error=s.error)
        if s.summary is not None:
            r = dict(s.summary)
            variations = r.pop("variations")
            view.acceptance, view.mean_target_probability = r["acceptance"], r["mean_target_probability"]
            view.diversity, view.near_copy_floor = r["diversity"], r["near_copy_floor"]
            view.result = r
            view.variations = [ReconVariation(**v, picture=f"{base}/{variation_name(v['index'])}") for v in variations]
            view.pictures = {GRID: f"{base}/{GRID}"}
        return view


@router.post("/jobs/{job_id}/reconstructions", status_code=202, response_model=ReconSubmitted,
             responses=_errors(404, 409, 410, 422))
def submit_reconstruction(job_id: str, recons: ReconsDep, response: Response,
                          params: Annotated[dict[str, Any] | None, Body(description="options; see the "
                                            "library's ReconstructionParams")] = None) -> ReconSubmitted:
    """Reconstruct the salient region of a job (queued, running or finished)."""
    state = recons.jobs.state(job_id)
    model = state.request.get("model", "")
    parsed = check(model, params, field="params")
    if state.status in ("failed", "canceled"):
        raise JobConflict(f"job {job_id} {state.status}; there is no saliency map to reconstruct from")
    recon_id = recons.submit(job_id, model, parsed)
    response.headers["Location"] = recon_url(job_id, recon_id)
    return ReconSubmitted(reconstruction_id=recon_id, job_id=job_id, link=recon_url(job_id, recon_id))


@router.get("/jobs/{job_id}/reconstructions", response_model=list[str], responses=_errors(404, 410))
def list_reconstructions(job_id: str, recons: ReconsDep) -> list[str]:
    recons.jobs.state(job_id)  # 404 / 410 for the job itself
    return recons.ids(job_id)


@router.get("/jobs/{job_id}/reconstructions/{recon_id}", response_model=ReconView, responses=_errors(404, 410))
def reconstruction(job_id: str, recon_id: str, recons: ReconsDep) -> ReconView:
    return ReconView.of(recons.state(job_id, recon_id))


@router.delete("/jobs/{job_id}/reconstructions/{recon_id}", response_model=ReconView,
               responses=_errors(404, 409, 410))
def cancel_reconstruction(job_id: str, recon_id: str, recons: ReconsDep, response: Response) -> ReconView:
    """Cancel a waiting reconstruction (200) or ask a running one to stop (202)."""
    view = ReconView.of(recons.cancel(job_id, recon_id))
    response.status_code = 200 if view.status == "canceled" else 202
    return view


@router.get("/jobs/{job_id}/reconstructions/{recon_id}/{name}", response_class=Response,
            responses={200: {"content": {"image/png": {}}}, **_errors(404, 409, 410)},
            description="variations.png (grid: the hidden region, then each variation framed green "
                        "when the class held, red when it changed) or variation-<k>.png")
def reconstruction_picture(job_id: str, recon_id: str, name: str, recons: ReconsDep) -> Response:
    if not _PICTURE.match(name):
        raise JobNotFound(f"no picture {name!r}; variations.png or variation-<k>.png")
    data = recons.picture(job_id, recon_id, name)
    return Response(data, media_type="image/png",
                    headers={"Content-Disposition": f'inline; filename="{recon_id}-{name}"'})


def plan(model: str, reconstruct: bool, raw: str | None) -> dict[str, Any] | None:
    """Before POST /explain stores anything: the reconstruction options when asked for, else None."""
    return check(model, raw) if reconstruct else None


def start(jobs: Jobs, job_id: str, model: str, image: bytes, params: dict[str, Any] | None) -> str | None:
    """After POST /explain queued the job: keep the image for reconstructions (models with a
    generator only) and queue the one asked for; returns its URL."""
    if get_spec(model).generator is None:
        return None
    recons = Reconstructions(jobs)
    recons.keep_source(job_id, image)
    if params is None:
        return None
    return recon_url(job_id, recons.submit(job_id, model, params))
