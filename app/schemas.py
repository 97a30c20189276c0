"""Everything the API answers, as pydantic models: the OpenAPI document is generated from these.
The job document itself (JobView and what it holds) is the core's, since webhooks deliver it too."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from jobs.batches import BATCH_STATUSES, BatchStatus
from jobs.document import BatchLinks, BatchSubmitted, JobView, Lifecycle, Links, Prediction, Submitted
from jobs.reconstructions import GRID, ReconState, recon_url, variation_name
from saliency.catalog.models import ModelInfo

__all__ = ["BATCH_STATUSES", "BatchJob", "BatchLinks", "BatchSubmitted", "BatchView", "ErrorBody", "Health",
           "JobPage", "JobView", "Links", "MethodView", "ModelInfo", "Prediction", "Readiness", "ReconSubmitted",
           "ReconVariation", "ReconView", "Submitted"]


class ErrorBody(BaseModel):
    """Every error the API answers has this shape."""

    detail: str = Field(description="a readable message")
    code: str = Field(description="stable machine-readable reason, e.g. unknown_model")
    field: str | None = Field(None, description="the request field at fault (422), e.g. params.queries")


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error statuses."""
    return {code: {"model": ErrorBody} for code in codes}


class JobPage(BaseModel):
    jobs: list[JobView] = Field(description="newest first")
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null: no more")


class BatchJob(BaseModel):
    job_id: str
    status: BatchStatus = Field(description="`expired`: the job's records are gone")
    progress: float = Field(ge=0, le=1)
    links: Links


class BatchView(BaseModel):
    batch_id: str
    created_at: datetime
    total: int
    counts: dict[BatchStatus, int] = Field(description="jobs per status, every status present")
    done: bool = Field(description="every job has reached a final status")
    jobs: list[BatchJob] = Field(description="in upload order")
    links: BatchLinks


class MethodView(BaseModel):
    name: str
    needs: Literal["black-box", "gradients"] = Field(
        description="black-box: only class probabilities; gradients: a differentiable model")
    description: str
    options: dict[str, Any] = Field(description="JSON Schema of `params` (defaults included)")


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ready", "unavailable"]
    redis: bool
    workers: int = Field(description="workers registered on the queue")
    detail: str | None = None


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
