"""Jobs: submit one (POST /explain), read, cancel and list them, download their artifacts."""
from __future__ import annotations

import gzip
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from app import forms
from app.deps import JobsDep, OwnerDep, ReconsDep, principal
from app.forms import ExplainForm
from app.schemas import BINARY, PNG_CONTENT, JobPage, JobView, Submitted, errors, png
from jobs.listing import MAX_PAGE, list_jobs
from jobs.purge import delete_job
from jobs.validation import check_image, check_options, check_size

router = APIRouter(tags=["jobs"])
IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", description="the same key with the same request answers the same job(s) (200); "
                                         "with a different request, 422; while the first is still being "
                                         "processed, 409")]


@router.post("/explain", status_code=202, response_model=Submitted, openapi_extra=forms.request_body(ExplainForm),
             responses={200: {"model": Submitted, "description": "the job of an earlier request with "
                                                                 "the same Idempotency-Key"},
                        **errors(400, 409, 413, 415, 422, 503)})
async def submit(request: Request, idempotency_key: IdempotencyKey = None) -> Response:
    """Queue an explanation. Names, class and options are checked now; nothing is stored on error."""
    uploads, form = await forms.read(request, "image")
    if len(uploads) > 1:
        raise forms.FormError("image: one picture per POST /explain; POST /batches takes several", field="image")
    state = request.app.state
    answer, replay = await run_in_threadpool(_submit, state, uploads[0][0], form, principal(request) or "",
                                             idempotency_key)
    return submitted(answer, replay, f"/jobs/{answer.job_id}")


def _submit(state: Any, data: bytes, form: forms.SubmissionForm, owner: str,
            key: str | None) -> tuple[Submitted, bool]:
    settings, catalog = state.settings, state.catalog
    check_size(data, settings.max_upload_bytes)
    options = check_options(catalog, settings, **form.options())
    upload = check_image(data, settings.max_upload_bytes)
    return state.submitter.explain(upload, options, owner, catalog.get(options.model).generator, key)


def submitted(answer: BaseModel, replay: bool, location: str) -> Response:
    """202 with the answer, or 200 when it replays an earlier request's (Idempotency-Key)."""
    headers = {"Location": location, **({"Idempotent-Replayed": "true"} if replay else {})}
    return Response(answer.model_dump_json(), status_code=200 if replay else 202, headers=headers,
                    media_type="application/json")


@router.get("/jobs/{job_id}", response_model=JobView, responses=errors(404, 410))
def job_status(job_id: str, jobs: JobsDep) -> JobView:
    return JobView.of(jobs.state(job_id))


@router.post("/jobs/{job_id}/cancel", response_model=JobView, responses=errors(404, 409, 410))
def cancel(job_id: str, jobs: JobsDep, response: Response) -> JobView:
    """Cancel a queued job (200, canceled) or ask a running one to stop (202, it turns canceled
    at its next progress check); 409 once it finished or failed."""
    view = JobView.of(jobs.cancel(job_id))
    response.status_code = 200 if view.status == "canceled" else 202
    return view


@router.delete("/jobs/{job_id}", status_code=204, response_class=Response, responses=errors(404, 409, 410))
def delete(job_id: str, recons: ReconsDep) -> Response:
    """Remove a finished, failed or canceled job's data now, before its TTL: the upload, the
    results, its reconstructions and webhook log (204). The id then answers 410. A queued or
    running job is 409: cancel it first (POST /jobs/{id}/cancel)."""
    delete_job(recons, job_id)
    return Response(status_code=204)


@router.get("/jobs", response_model=JobPage, responses=errors(422))
def get_jobs(
    jobs: JobsDep,
    owner: OwnerDep,
    status: Annotated[Literal["queued", "started", "finished", "failed", "canceled"] | None,
                      Query(description="only jobs in this state")] = None,
    model: Annotated[str | None, Query(description="only jobs of this model")] = None,
    method: Annotated[str | None, Query(description="only jobs of this method")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="jobs per page")] = 20,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page")] = None,
) -> JobPage:
    """The caller's jobs (those of its API key), newest first, with cursor paging. Status-filtered
    pages read at most 500 jobs each, so one may be short yet have a `next_cursor`."""
    states, next_cursor = list_jobs(jobs, owner, status=status, model=model, method=method, limit=limit,
                                    cursor=cursor)
    return JobPage(jobs=[JobView.of(s) for s in states], next_cursor=next_cursor)


def _picture(jobs: JobsDep, job_id: str, name: str, request: Request) -> Response:
    return png(jobs.artifact(job_id, name), request.headers.get("accept", ""),
               {"Content-Disposition": f'inline; filename="{job_id}-{name}"'})


_ARTIFACT_DOC = "409 until the job has finished; 410 once its results have expired."


@router.get("/jobs/{job_id}/saliency.npy", tags=["artifacts"], response_class=Response,
            responses={200: {"content": {"application/octet-stream": BINARY}}, **errors(404, 409, 410)},
            description="The float32 map (image height x width) as written by numpy.save; gzip "
                        "Content-Encoding when the client accepts it. " + _ARTIFACT_DOC)
def saliency_npy(job_id: str, jobs: JobsDep, request: Request) -> Response:
    return _npy_response(jobs, job_id, "saliency.npy", request)


def _npy_response(jobs: JobsDep, job_id: str, name: str, request: Request) -> Response:
    packed = jobs.artifact(job_id, name)  # stored gzipped
    headers = {"Content-Disposition": f'attachment; filename="{job_id}-{name}"', "Vary": "Accept-Encoding"}
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(packed, media_type="application/octet-stream", headers=headers)
    return Response(gzip.decompress(packed), media_type="application/octet-stream", headers=headers)


@router.get("/jobs/{job_id}/saliency.png", tags=["artifacts"], response_class=Response,
            responses={200: {"content": PNG_CONTENT}, **errors(404, 409, 410)},
            description="The map as a colour heatmap at the image's size. " + _ARTIFACT_DOC)
def saliency_png(job_id: str, jobs: JobsDep, request: Request) -> Response:
    return _picture(jobs, job_id, "saliency.png", request)


@router.get("/jobs/{job_id}/uncertainty.npy", tags=["artifacts"], response_class=Response,
            responses={200: {"content": {"application/octet-stream": BINARY}}, **errors(404, 409, 410)},
            description="Sampling methods (oise, rise): the per-pixel standard error of the map, float32, "
                        "image height x width, in the map's units (numpy.save); gzip Content-Encoding "
                        "when the client accepts it. 404 for other methods. " + _ARTIFACT_DOC)
def uncertainty_npy(job_id: str, jobs: JobsDep, request: Request) -> Response:
    return _npy_response(jobs, job_id, "uncertainty.npy", request)


@router.get("/jobs/{job_id}/uncertainty.png", tags=["artifacts"], response_class=Response,
            responses={200: {"content": PNG_CONTENT}, **errors(404, 409, 410)},
            description="Sampling methods (oise, rise): the uncertainty as a heatmap at the image's size, "
                        "scaled to its own range. 404 for other methods. " + _ARTIFACT_DOC)
def uncertainty_png(job_id: str, jobs: JobsDep, request: Request) -> Response:
    return _picture(jobs, job_id, "uncertainty.png", request)


@router.get("/jobs/{job_id}/overlay.png", tags=["artifacts"], response_class=Response,
            responses={200: {"content": PNG_CONTENT}, **errors(404, 409, 410)},
            description="The heatmap blended over the uploaded image. " + _ARTIFACT_DOC)
def overlay_png(job_id: str, jobs: JobsDep, request: Request) -> Response:
    return _picture(jobs, job_id, "overlay.png", request)
