"""POST /batches: several images, one job each, one id for all; GET /batches/{id} sums them up;
DELETE /batches/{id} cancels the jobs not yet final.

Each image is checked exactly as POST /explain checks its one (app.validation), and the jobs and
the batch record are written in one Redis transaction: a bad image anywhere stores nothing.
"""
from __future__ import annotations

import secrets
from datetime import datetime, timezone
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Request, Response, UploadFile
from pydantic import BaseModel, Field

from app.auth import principal
from app.batch_store import BatchRecord, BatchStore
from app.jobs import JobConflict, JobExpired, JobNotFound, Jobs
from app.schemas import ErrorBody, Links, Submitted
from app.settings import Settings
from app.validation import FieldError, NotAnImage, PixelsTooMany, Submission, UploadTooLarge, validate

router = APIRouter(tags=["batches"])

BatchStatus = Literal["queued", "started", "finished", "failed", "canceled", "expired"]
FINAL = frozenset({"finished", "failed", "canceled", "expired"})


class BatchLinks(BaseModel):
    self: str


class BatchSubmitted(BaseModel):
    batch_id: str
    jobs: list[Submitted] = Field(description="one per image, in upload order")
    links: BatchLinks


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


def _errors(*codes: int) -> dict[int | str, dict]:
    return {code: {"model": ErrorBody} for code in codes}


def _check(settings: Settings, images: list[UploadFile], model: str | None, method: str | None,
           target: str | None, params: str | None, metrics: str | None) -> list[Submission]:
    if len(images) > settings.max_batch_images:
        raise FieldError("images", f"{len(images)} images; a batch holds at most {settings.max_batch_images}",
                         "too_many_images")
    subs = []
    for i, upload in enumerate(images):
        data = upload.file.read(settings.max_upload_bytes + 1)
        try:
            subs.append(validate(data, model or settings.default_model, method or settings.default_method,
                                 target, params, settings.max_upload_bytes, metrics))
        except (UploadTooLarge, NotAnImage, PixelsTooMany) as exc:  # say which image
            raise type(exc)(f"images[{i}] ({upload.filename}): {exc}") from None
    return subs


def submit_all(jobs: Jobs, subs: list[Submission], owner: str) -> tuple[str, list[str]]:
    """Queue every job and the batch record in one transaction; returns (batch id, job ids)."""
    batch_id = secrets.token_hex(16)
    with jobs.redis.pipeline() as pipe:
        job_ids = [jobs.submit(sub, owner, pipe=pipe) for sub in subs]
        BatchStore(jobs.redis, jobs.settings).put(
            pipe, BatchRecord(batch_id, owner, datetime.now(timezone.utc), job_ids))
        pipe.execute()
    return batch_id, job_ids


def summarise(jobs: Jobs, record: BatchRecord) -> BatchView:
    """One state read per job: O(batch size)."""
    rows = []
    for job_id in record.job_ids:
        try:
            state = jobs.state(job_id)
            rows.append(BatchJob(job_id=job_id, status=state.status, progress=state.progress,
                                 links=Links.for_job(job_id)))
        except (JobExpired, JobNotFound):
            rows.append(BatchJob(job_id=job_id, status="expired", progress=0.0, links=Links.for_job(job_id)))
    counts: dict[BatchStatus, int] = {s: 0 for s in BatchStatus.__args__}
    for row in rows:
        counts[row.status] += 1
    return BatchView(batch_id=record.batch_id, created_at=record.created_at, total=len(rows), counts=counts,
                     done=all(r.status in FINAL for r in rows), jobs=rows,
                     links=BatchLinks(self=f"/batches/{record.batch_id}"))


@router.post("/batches", status_code=202, response_model=BatchSubmitted, responses=_errors(413, 415, 422, 503))
def submit_batch(
    request: Request,
    response: Response,
    images: Annotated[list[UploadFile], File(description="the pictures, one `images` part each")],
    model: Annotated[str | None, Form(description="as for POST /explain, for every image")] = None,
    method: Annotated[str | None, Form(description="as for POST /explain")] = None,
    target: Annotated[str | None, Form(description="as for POST /explain")] = None,
    params: Annotated[str | None, Form(description="as for POST /explain")] = None,
    metrics: Annotated[str | None, Form(description="as for POST /explain")] = None,
) -> BatchSubmitted:
    """Queue one job per image. Over `max_batch_images` images: 422 `too_many_images`; a bad
    image: its POST /explain status, naming it (`images[i]`); nothing is stored on error. Counts
    as one submission against the key's rate limit."""
    jobs: Jobs = request.app.state.jobs
    subs = _check(request.app.state.settings, images, model, method, target, params, metrics)
    batch_id, job_ids = submit_all(jobs, subs, principal(request) or "")
    response.headers["Location"] = f"/batches/{batch_id}"
    return BatchSubmitted(batch_id=batch_id, jobs=[Submitted(job_id=j, links=Links.for_job(j)) for j in job_ids],
                          links=BatchLinks(self=f"/batches/{batch_id}"))


def _record(request: Request, batch_id: str) -> BatchRecord:
    jobs: Jobs = request.app.state.jobs
    owner = principal(request) if request.app.state.settings.auth else None
    return BatchStore(jobs.redis, jobs.settings).get(batch_id, owner)


@router.get("/batches/{batch_id}", response_model=BatchView, responses=_errors(404))
def get_batch(batch_id: str, request: Request) -> BatchView:
    """Each job's status and progress, counts by status, and whether all are final."""
    return summarise(request.app.state.jobs, _record(request, batch_id))


@router.delete("/batches/{batch_id}", response_model=BatchView, responses=_errors(404))
def cancel_batch(batch_id: str, request: Request, response: Response) -> BatchView:
    """Cancel every job of the batch that is not final, as DELETE /jobs/{id} does one: queued jobs
    at once, running ones at their next progress check. Jobs already finished or failed keep
    their results. 200 when every job is final afterwards, else 202 (poll GET /batches/{id})."""
    jobs: Jobs = request.app.state.jobs
    record = _record(request, batch_id)
    for job_id in record.job_ids:
        try:
            jobs.cancel(job_id)
        except (JobConflict, JobExpired, JobNotFound):
            pass  # final already, or gone: nothing to stop
    view = summarise(jobs, record)
    response.status_code = 200 if view.done else 202
    return view
