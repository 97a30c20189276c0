"""The HTTP routes. Each one parses its input, calls one function, and shapes the answer."""
from __future__ import annotations

import gzip
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Header, Request, Response, UploadFile
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError
from rq import SimpleWorker

from app import predict, reconstructions
from app.auth import principal
from app.idempotency import Idempotency, fingerprint
from app.jobs import Jobs
from app.schemas import ErrorBody, Health, JobView, Links, ModelInfo, Prediction, Readiness, Submitted
from app.settings import Settings
from app.validation import validate
from app.webhook_url import accept_callback
from saliency.methods import methods_for
from saliency.models import list_models

router = APIRouter()


def jobs_of(request: Request) -> Jobs:
    return request.app.state.jobs


def settings_of(request: Request) -> Settings:
    return request.app.state.settings


JobsDep = Annotated[Jobs, Depends(jobs_of)]
SettingsDep = Annotated[Settings, Depends(settings_of)]


def _errors(*codes: int) -> dict[int | str, dict]:
    return {code: {"model": ErrorBody} for code in codes}


@router.post("/explain", status_code=202, response_model=Submitted, tags=["jobs"],
             responses={200: {"model": Submitted, "description": "the job of an earlier request with "
                                                                 "the same Idempotency-Key"},
                        **_errors(409, 413, 415, 422, 503)})
def submit(
    request: Request,
    response: Response,
    jobs: JobsDep,
    settings: SettingsDep,
    image: Annotated[UploadFile, File(description="the picture to explain (JPEG, PNG, WebP, GIF, BMP, TIFF)")],
    model: Annotated[str | None, Form(description="registered model name; default from settings")] = None,
    method: Annotated[str | None, Form(description="saliency method; default oise")] = None,
    target: Annotated[str | None, Form(description="class to explain, index or label; default top-1")] = None,
    params: Annotated[str | None, Form(description='method options as a JSON object, e.g. {"queries": 500}')] = None,
    metrics: Annotated[str | None, Form(
        description="metrics of the map (deletion, insertion): JSON list or comma-separated")] = None,
    reconstruct: Annotated[bool, Form(
        description="then reconstruct the salient region (the model must declare a generator)")] = False,
    reconstruct_params: Annotated[str | None, Form(description="reconstruction options as a JSON object")] = None,
    callback_url: Annotated[str | None, Form(
        description="http(s) URL that gets the job document, signed, once the job ends (README, Webhooks)")] = None,
    idempotency_key: Annotated[str | None, Header(
        alias="Idempotency-Key", description="the same key with the same request answers the same job "
                                             "(200); with a different request, 409")] = None,
) -> Submitted:
    """Queue an explanation. Names, class and options are checked now; nothing is stored on error."""
    data = image.file.read(settings.max_upload_bytes + 1)
    sub = validate(data, model or settings.default_model, method or settings.default_method, target,
                   params, settings.max_upload_bytes, metrics)
    callback = accept_callback(callback_url, settings)
    recon = reconstructions.plan(sub.model, reconstruct, reconstruct_params)
    owner = principal(request) or ""
    claim, once = None, Idempotency(jobs.redis, settings)
    if idempotency_key is not None:
        fp = fingerprint(sub, callback_url=callback, reconstruct=reconstruct, reconstruct_params=reconstruct_params)
        claim = once.claim(owner, idempotency_key, fp)
        if claim.replay:
            if jobs.metrics is not None:
                jobs.metrics.idempotent_replays.inc()
            response.status_code = 200
            response.headers.update({"Location": f"/jobs/{claim.job_id}", "Idempotent-Replayed": "true"})
            return Submitted(**claim.answer) if claim.answer else Submitted(
                job_id=claim.job_id, links=Links.for_job(claim.job_id))
    try:
        job_id = jobs.submit(sub, owner=owner, job_id=claim.job_id if claim else None, callback_url=callback)
        recon_url = reconstructions.start(jobs, job_id, sub.model, sub.image, recon)
    except BaseException:
        if claim is not None:  # nothing (or not all) was created: let a retry with the key go through
            once.release(owner, idempotency_key)
        raise
    answer = Submitted(job_id=job_id, links=Links.for_job(job_id), reconstruction=recon_url)
    if claim is not None:
        once.remember(owner, idempotency_key, fp, job_id, answer.model_dump(mode="json"))
    response.headers["Location"] = f"/jobs/{job_id}"
    return answer


@router.post("/predict", response_model=list[Prediction], tags=["models"],
             responses=_errors(413, 415, 422, 503))
def predict_top5(
    settings: SettingsDep,
    image: Annotated[UploadFile, File(description="the picture to classify (as for POST /explain)")],
    model: Annotated[str | None, Form(description="registered model name; default from settings")] = None,
) -> list[Prediction]:
    """The model's top-5 classes for the picture, best first: candidate targets for POST /explain.
    Checked like POST /explain and counted against the same submission rate limit."""
    data = image.file.read(settings.max_upload_bytes + 1)
    top = predict.top_classes(data, model or settings.default_model, settings.max_upload_bytes)
    return [Prediction(**p) for p in top]


@router.get("/jobs/{job_id}", response_model=JobView, tags=["jobs"], responses=_errors(404, 410))
def job_status(job_id: str, jobs: JobsDep) -> JobView:
    return JobView.of(jobs.state(job_id))


@router.delete("/jobs/{job_id}", response_model=JobView, tags=["jobs"], responses=_errors(404, 409, 410))
def cancel(job_id: str, jobs: JobsDep, response: Response) -> JobView:
    """Cancel a queued job (200, canceled) or ask a running one to stop (202, it turns canceled
    within about `progress_interval` seconds)."""
    view = JobView.of(jobs.cancel(job_id))
    response.status_code = 200 if view.status == "canceled" else 202
    return view


def _artifact_response(jobs: Jobs, job_id: str, name: str, media_type: str) -> Response:
    data = jobs.artifact(job_id, name)
    return Response(data, media_type=media_type,
                    headers={"Content-Disposition": f'inline; filename="{job_id}-{name}"'})


_ARTIFACT_DOC = "409 until the job has finished; 410 once its results have expired."


@router.get("/jobs/{job_id}/saliency.npy", tags=["artifacts"], response_class=Response,
            responses={200: {"content": {"application/octet-stream": {}}}, **_errors(404, 409, 410)},
            description="The float32 map (image height x width) as written by numpy.save; gzip "
                        "Content-Encoding when the client accepts it. " + _ARTIFACT_DOC)
def saliency_npy(job_id: str, jobs: JobsDep, request: Request) -> Response:
    packed = jobs.artifact(job_id, "saliency.npy")  # stored gzipped
    headers = {"Content-Disposition": f'attachment; filename="{job_id}-saliency.npy"', "Vary": "Accept-Encoding"}
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(packed, media_type="application/octet-stream", headers=headers)
    return Response(gzip.decompress(packed), media_type="application/octet-stream", headers=headers)


@router.get("/jobs/{job_id}/saliency.png", tags=["artifacts"], response_class=Response,
            responses={200: {"content": {"image/png": {}}}, **_errors(404, 409, 410)},
            description="The map as a colour heatmap at the image's size. " + _ARTIFACT_DOC)
def saliency_png(job_id: str, jobs: JobsDep) -> Response:
    return _artifact_response(jobs, job_id, "saliency.png", "image/png")


@router.get("/jobs/{job_id}/overlay.png", tags=["artifacts"], response_class=Response,
            responses={200: {"content": {"image/png": {}}}, **_errors(404, 409, 410)},
            description="The heatmap blended over the uploaded image. " + _ARTIFACT_DOC)
def overlay_png(job_id: str, jobs: JobsDep) -> Response:
    return _artifact_response(jobs, job_id, "overlay.png", "image/png")


@router.get("/models", response_model=list[ModelInfo], tags=["models"], responses=_errors(503))
def models() -> list[ModelInfo]:
    """Every model this service can run, and the registered methods that can explain it."""
    return [
        ModelInfo(
            name=spec.name,
            description=spec.description,
            input_size=spec.input_size,
            source=spec.source,
            gradients=spec.gradients,
            methods=methods_for(spec.gradients),
            generator=spec.generator is not None,
        )
        for spec in list_models()
    ]


@router.get("/healthz", response_model=Health, tags=["health"])
def healthz() -> Health:
    """The API process is alive (says nothing about Redis or workers)."""
    return Health()


@router.get("/readyz", response_model=Readiness, tags=["health"], responses={503: {"model": Readiness}})
def readyz(jobs: JobsDep) -> JSONResponse:
    """Redis answers and at least one worker listens on the queue; else 503."""
    try:
        jobs.redis.ping()
        workers = SimpleWorker.count(connection=jobs.redis, queue=jobs.queue)
    except RedisError as exc:
        body = Readiness(status="unavailable", redis=False, workers=0, detail=f"Redis: {exc}")
        return JSONResponse(body.model_dump(), status_code=503)
    if workers == 0:
        body = Readiness(status="unavailable", redis=True, workers=0, detail="no worker is running")
        return JSONResponse(body.model_dump(), status_code=503)
    return JSONResponse(Readiness(status="ready", redis=True, workers=workers).model_dump())
