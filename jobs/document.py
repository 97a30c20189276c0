"""The job document: what GET /jobs/{id} answers, what a webhook delivers and what a submission
returns, as pydantic models (the OpenAPI schema is generated from these and app/schemas.py)."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from jobs.audit import Audit
from jobs.audit import build as build_audit
from jobs.state import JobState
from jobs.webhooks import WebhookView


class Links(BaseModel):
    self: str = Field(description="this job")
    saliency_npy: str = Field(description="float32 map, image height x width (np.load)")
    saliency_png: str = Field(description="colour heatmap")
    overlay_png: str = Field(description="heatmap blended over the image")
    cancel: str = Field(description="POST here to cancel the job (DELETE `self` removes a final job's data)")
    uncertainty_npy: str = Field(description="float32 per-pixel standard error of the map, image height x "
                                             "width, in the map's units (sampling methods: oise, rise)")
    uncertainty_png: str = Field(description="the uncertainty as a heatmap scaled to its own range "
                                             "(sampling methods: oise, rise)")

    @classmethod
    def for_job(cls, job_id: str) -> "Links":
        base = f"/jobs/{job_id}"
        return cls(self=base, saliency_npy=f"{base}/saliency.npy", saliency_png=f"{base}/saliency.png",
                   overlay_png=f"{base}/overlay.png", cancel=f"{base}/cancel",
                   uncertainty_npy=f"{base}/uncertainty.npy", uncertainty_png=f"{base}/uncertainty.png")


HELD = Field(False, description="true while the job waits because its API key already has "
                               "SALIENCY_MAX_ACTIVE_JOBS jobs queued or running; it enters the queue as they end")


class Submitted(BaseModel):
    job_id: str
    status: Literal["queued"] = "queued"
    held: bool = HELD
    links: Links
    reconstruction: str | None = Field(None, description="the reconstruction's URL when reconstruct=true")


class TargetRef(BaseModel):
    index: int
    label: str


class Prediction(TargetRef):
    score: float = Field(description="probability on the clean image")


class MetricValue(BaseModel):
    auc: float = Field(description="area under the curve, normalised to [0, 1]")
    queries: int = Field(description="model queries the metric spent")
    seconds: float | None = None


class Result(BaseModel):
    target: Prediction = Field(description="the explained class")
    top5: list[Prediction]
    queries: int = Field(description="model queries spent")
    seconds: float = Field(description="time the explanation took in the worker")
    device: str
    artifacts: dict[str, str] = Field(description="artifact name -> URL path")
    metrics: dict[str, MetricValue] | None = Field(None, description="the requested metrics of the map")
    stability: float | None = Field(
        None, description="sampling methods (oise, rise): split-half reliability of the map, 0..1: the "
                          "expected correlation with a map from another seed at the same budget (README)")
    stopped: Literal["budget", "target", "cap"] | None = Field(
        None, description="sampling methods: budget (fixed queries spent), target (target_stability "
                          "reached), cap (max_queries spent before the target)")


class ImageInfo(BaseModel):
    width: int
    height: int
    bytes: int


class Lifecycle(BaseModel):
    """What every queued piece of work reports: where it is and when it moved."""

    status: Literal["queued", "started", "finished", "failed", "canceled"]
    progress: float = Field(ge=0, le=1)
    created_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None


class JobView(Lifecycle):
    job_id: str
    model: str | None
    method: str | None
    params: dict[str, Any]
    metrics: list[str] = Field(default_factory=list, description="metrics requested with the job")
    target: TargetRef | None = Field(description="requested class; null: the model's top-1 class")
    image: ImageInfo | None = Field(None, description="the uploaded picture")
    error: str | None = Field(description="why the job failed, when it did")
    cancel_requested: bool = False
    held: bool = HELD
    result: Result | None = None
    links: Links
    audit: Audit | None = Field(None, description="model hash, versions, worker, device, timings, queries")
    webhook: WebhookView | None = Field(None, description="the callback and its delivery attempts, when "
                                                          "callback_url was given")

    @classmethod
    def of(cls, state: JobState) -> "JobView":
        req = state.request
        links = Links.for_job(state.job_id)
        result = None
        if state.summary is not None:
            s = state.summary
            artifacts = {"saliency.npy": links.saliency_npy, "saliency.png": links.saliency_png,
                         "overlay.png": links.overlay_png}
            if "stability" in s:  # a sampling method: it stored its uncertainty
                artifacts |= {"uncertainty.npy": links.uncertainty_npy, "uncertainty.png": links.uncertainty_png}
            result = Result(
                target=Prediction(**s["target"]),
                top5=[Prediction(**p) for p in s["top5"]],
                queries=s["queries"],
                seconds=s["seconds"],
                device=s.get("device", ""),
                artifacts=artifacts,
                metrics=s.get("metrics"),
                stability=s.get("stability"),
                stopped=s.get("stopped"),
            )
        return cls(
            job_id=state.job_id,
            status=state.status,
            progress=state.progress,
            created_at=state.created_at,
            started_at=state.started_at,
            ended_at=state.ended_at,
            model=req.get("model"),
            method=req.get("method"),
            params=req.get("params") or {},
            metrics=req.get("metrics") or [],
            target=TargetRef(**req["target"]) if req.get("target") else None,
            image=ImageInfo(**req["image"]) if req.get("image") else None,
            error=state.error,
            cancel_requested=state.cancel_requested,
            held=state.held,
            result=result,
            links=links,
            audit=build_audit(state),
            webhook=state.webhook,
        )


class BatchLinks(BaseModel):
    self: str


class BatchSubmitted(BaseModel):
    batch_id: str
    jobs: list[Submitted] = Field(description="one per image, in upload order")
    links: BatchLinks
