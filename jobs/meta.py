"""The fields the service keeps in an RQ job's meta, defined once and typed. Only this module
reads or writes `job.meta`; everyone else calls these functions.

Explanation jobs carry the request as accepted, their progress, the worker's audit record and,
when they end badly, a readable error; reconstruction jobs carry their parent job and options.
"""
from __future__ import annotations

from typing import Any, TypedDict

from rq.job import Job


class TargetRecord(TypedDict):
    index: int
    label: str


class ImageRecord(TypedDict):
    width: int
    height: int
    bytes: int
    sha256: str


class Request(TypedDict, total=False):
    """A submission as accepted: names resolved, option defaults filled in."""

    model: str
    method: str
    params: dict[str, Any]
    target: TargetRecord | None
    image: ImageRecord
    metrics: list[str]
    callback_url: str


class Meta(TypedDict, total=False):
    request: Request  # explanation jobs
    parent: str  # reconstruction jobs: the explanation's id
    params: dict[str, Any]  # reconstruction jobs: their options
    progress: float  # 0..1
    audit: dict[str, Any]  # the worker's record (worker.audit)
    error: str  # why it failed, for the person who submitted it
    canceled: bool  # it failed because a cancel was asked for
    lost: int  # times the janitor found its worker gone
    interrupted: int  # times a stopping worker put it back in the queue


def new_explanation(request: Request) -> Meta:
    return {"request": request, "progress": 0.0}


def new_reconstruction(parent: str, params: dict[str, Any]) -> Meta:
    return {"parent": parent, "params": params, "progress": 0.0}


def _meta(job: Job) -> Meta:
    return job.meta  # type: ignore[return-value]


def request(job: Job) -> Request:
    return _meta(job).get("request") or {}


def callback_url(job: Job) -> str | None:
    return request(job).get("callback_url")


def progress(job: Job) -> float:
    return float(_meta(job).get("progress", 0.0))


def set_progress(job: Job, fraction: float) -> None:
    _meta(job)["progress"] = round(min(max(float(fraction), 0.0), 1.0), 4)


def audit(job: Job) -> dict[str, Any] | None:
    return _meta(job).get("audit")


def set_audit(job: Job, record: dict[str, Any]) -> None:
    _meta(job)["audit"] = record


def error(job: Job) -> str | None:
    return _meta(job).get("error")


def set_error(job: Job, message: str) -> None:
    _meta(job)["error"] = message


def clear_error(job: Job) -> None:
    _meta(job).pop("error", None)


def canceled(job: Job) -> bool:
    return bool(_meta(job).get("canceled"))


def mark_canceled(job: Job) -> None:
    _meta(job)["canceled"] = True


def count_loss(job: Job) -> int:
    """One more loss of its worker; returns how many so far."""
    lost = int(_meta(job).get("lost", 0)) + 1
    _meta(job)["lost"] = lost
    return lost


def was_lost(job: Job) -> bool:
    return bool(_meta(job).get("lost"))


def count_interruption(job: Job) -> int:
    n = int(_meta(job).get("interrupted", 0)) + 1
    _meta(job)["interrupted"] = n
    return n


def parent(job: Job) -> str | None:
    return _meta(job).get("parent")


def recon_params(job: Job) -> dict[str, Any]:
    return _meta(job).get("params") or {}
