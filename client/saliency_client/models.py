"""What the API answers, as typed objects: a mirror of app/schemas.py, app/batches.py and
app/listing.py, kept apart so that the client needs neither the service nor torch.

Unknown fields are kept (extra="allow"), so a newer API's additions stay reachable as attributes;
tests/test_client.py checks that every field the API documents is declared here.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

JobStatus = Literal["queued", "started", "finished", "failed", "canceled"]
FINAL: frozenset[str] = frozenset({"finished", "failed", "canceled"})


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class Links(_Model):
    self: str
    saliency_npy: str
    saliency_png: str
    overlay_png: str
    cancel: str | None = None  # POST here to cancel (APIs before it: DELETE self)
    uncertainty_npy: str | None = None  # sampling methods (oise, rise) only
    uncertainty_png: str | None = None


class Submitted(_Model):
    job_id: str
    status: str = "queued"
    held: bool = False  # waits behind its API key's cap on active jobs
    links: Links
    reconstruction: str | None = None


class TargetRef(_Model):
    index: int
    label: str


class Prediction(TargetRef):
    score: float


class MetricValue(_Model):
    auc: float
    queries: int
    seconds: float | None = None


class Result(_Model):
    target: Prediction
    top5: list[Prediction]
    queries: int
    seconds: float
    device: str
    artifacts: dict[str, str]
    metrics: dict[str, MetricValue] | None = None
    stability: float | None = None  # sampling methods (oise, rise): split-half reliability, 0..1
    stopped: str | None = None  # sampling methods: budget, target or cap


class ImageInfo(_Model):
    width: int
    height: int
    bytes: int
    sha256: str | None = None


class Job(_Model):
    job_id: str
    status: JobStatus
    progress: float
    created_at: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    model: str | None = None
    method: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    metrics: list[str] = Field(default_factory=list)
    target: TargetRef | None = None
    image: ImageInfo | None = None
    error: str | None = None
    cancel_requested: bool = False
    held: bool = False
    result: Result | None = None
    links: Links
    # Reproduction record and webhook deliveries (app.audit, app.webhook_log), as plain dicts.
    audit: dict[str, Any] | None = None
    webhook: dict[str, Any] | None = None

    @property
    def done(self) -> bool:
        return self.status in FINAL


class JobPage(_Model):
    jobs: list[Job]
    next_cursor: str | None = None


class BatchLinks(_Model):
    self: str


class BatchSubmitted(_Model):
    batch_id: str
    jobs: list[Submitted]
    links: BatchLinks


class BatchJob(_Model):
    job_id: str
    status: Literal["queued", "started", "finished", "failed", "canceled", "expired"]
    progress: float
    links: Links


class Batch(_Model):
    batch_id: str
    created_at: datetime
    total: int
    counts: dict[str, int]
    done: bool
    jobs: list[BatchJob]
    links: BatchLinks
