"""The `audit` object of GET /jobs/{id}: enough to reproduce a job and to know who ran it where.

The worker records the model's identity, versions, worker and device (worker.audit) in the job's
meta; the request (as accepted) and RQ's timestamps come from the submission. Present on every
job; the worker's part is null until a worker has taken it.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from jobs.state import JobState


class ModelIdentity(BaseModel):
    name: str
    source: str = Field(description="builtin, torchvision or config")
    description: str = ""
    weights_sha256: str = Field(description="SHA-256 over every parameter and buffer of the loaded network")
    parameters: int
    device: str


class Timings(BaseModel):
    queued_at: datetime | None = Field(description="when the job entered the queue")
    started_at: datetime | None
    ended_at: datetime | None
    queue_wait_seconds: float | None
    run_seconds: float | None


class Queries(BaseModel):
    method: int = Field(description="queries of the saliency method")
    metrics: int = Field(description="queries of the requested metrics")
    total: int


class Audit(BaseModel):
    model: ModelIdentity | None = Field(description="null until a worker loaded the model")
    method: str | None
    params: dict[str, Any] = Field(description="every option the method ran with, defaults included")
    seed: int | None = Field(description="the method's random seed; null for deterministic methods")
    target: int | None = Field(description="the explained class index (requested, or top-1 once known)")
    image_sha256: str | None = Field(description="SHA-256 of the uploaded file")
    versions: dict[str, str] = Field(default_factory=dict,
                                     description="python, torch, torchvision, … and a hash of the saliency sources")
    worker: str | None = Field(description="the RQ worker name (host.pid.random)")
    host: str | None
    device: str | None
    timings: Timings
    queries: Queries | None = Field(description="set once the job finished")


def _seconds(a: datetime | None, b: datetime | None) -> float | None:
    if a is None or b is None:
        return None
    try:
        return round((b - a).total_seconds(), 6)
    except TypeError:  # one naive, one aware: RQ versions differ
        return round((b.replace(tzinfo=None) - a.replace(tzinfo=None)).total_seconds(), 6)


def build(state: JobState) -> Audit:
    req, rec = state.request, state.audit or {}
    params = rec.get("params") or req.get("params") or {}
    target = rec.get("target")
    if target is None and req.get("target"):
        target = req["target"]["index"]
    queued = state.enqueued_at or state.created_at
    return Audit(
        model=rec.get("model"),
        method=req.get("method"),
        params=params,
        seed=params.get("seed"),
        target=target,
        image_sha256=(req.get("image") or {}).get("sha256"),
        versions=rec.get("versions") or {},
        worker=rec.get("worker"),
        host=rec.get("host"),
        device=rec.get("device"),
        timings=Timings(queued_at=queued, started_at=state.started_at, ended_at=state.ended_at,
                        queue_wait_seconds=_seconds(queued, state.started_at),
                        run_seconds=_seconds(state.started_at, state.ended_at)),
        queries=rec.get("queries"),
    )
