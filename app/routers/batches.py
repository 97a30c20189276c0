"""Batches: POST /batches queues one job per image under one id; GET sums them up; DELETE cancels
the jobs not yet final. Each image is checked as POST /explain checks its one, and the whole
submission is one Redis transaction (jobs.submission): a bad image anywhere stores nothing."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from app import forms
from app.deps import JobsDep, ReaderDep, principal
from app.forms import BatchForm
from app.routers.jobs import IdempotencyKey, submitted
from app.schemas import BATCH_STATUSES, BatchJob, BatchSubmitted, BatchView, errors
from jobs.batches import FINAL, BatchRecord, BatchStore, cancel_all, rows
from jobs.document import BatchLinks, Links
from jobs.errors import TooManyImages
from jobs.state import Jobs
from jobs.validation import check_image, check_options

router = APIRouter(tags=["batches"])


def summarise(jobs: Jobs, record: BatchRecord) -> BatchView:
    found = [BatchJob(job_id=r.job_id, status=r.status, progress=r.progress, links=Links.for_job(r.job_id))
             for r in rows(jobs, record)]
    counts = {s: sum(1 for r in found if r.status == s) for s in BATCH_STATUSES}
    return BatchView(batch_id=record.batch_id, created_at=record.created_at, total=len(found), counts=counts,
                     done=all(r.status in FINAL for r in found), jobs=found,
                     links=BatchLinks(self=f"/batches/{record.batch_id}"))


@router.post("/batches", status_code=202, response_model=BatchSubmitted, openapi_extra=forms.request_body(BatchForm),
             responses={200: {"model": BatchSubmitted, "description": "the batch of an earlier request with "
                                                                      "the same Idempotency-Key"},
                        **errors(409, 413, 415, 422, 503)})
async def submit_batch(request: Request, idempotency_key: IdempotencyKey = None) -> Response:
    """Queue one job per image, with the options of POST /explain for all. Over
    `max_batch_images` images: 422 `too_many_images`; a bad image: its POST /explain status,
    naming it (`images[i]`); nothing is stored on error. Counts as one submission against the key's
    rate limit."""
    uploads, form = await forms.read(request, "images")
    state = request.app.state
    answer, replay = await run_in_threadpool(_submit, state, uploads, form, principal(request) or "",
                                             idempotency_key)
    return submitted(answer, replay, f"/batches/{answer.batch_id}")


def _submit(state: Any, uploads: list[tuple[bytes, str]], form: forms.SubmissionForm, owner: str,
            key: str | None) -> tuple[BatchSubmitted, bool]:
    settings, catalog = state.settings, state.catalog
    if len(uploads) > settings.max_batch_images:
        raise TooManyImages(f"{len(uploads)} images; a batch holds at most {settings.max_batch_images}")
    options = check_options(catalog, settings, **form.options())
    checked = [check_image(data, settings.max_upload_bytes, f"images[{i}] ({name})")
               for i, (data, name) in enumerate(uploads)]
    return state.submitter.batch(checked, options, owner, catalog.get(options.model).generator, key)


@router.get("/batches/{batch_id}", response_model=BatchView, responses=errors(404))
def get_batch(batch_id: str, jobs: JobsDep, reader: ReaderDep) -> BatchView:
    """Each job's status and progress, counts by status, and whether all are final."""
    return summarise(jobs, BatchStore(jobs.redis, jobs.settings).get(batch_id, reader))


@router.delete("/batches/{batch_id}", response_model=BatchView, responses=errors(404))
def cancel_batch(batch_id: str, jobs: JobsDep, reader: ReaderDep, response: Response) -> BatchView:
    """Cancel every job of the batch that is not final, as DELETE /jobs/{id} does one: queued jobs
    at once, running ones at their next progress check. Jobs already finished or failed keep
    their results. 200 when every job is final afterwards, else 202 (poll GET /batches/{id})."""
    record = BatchStore(jobs.redis, jobs.settings).get(batch_id, reader)
    cancel_all(jobs, record)
    view = summarise(jobs, record)
    response.status_code = 200 if view.done else 202
    return view
