"""Liveness, readiness and the Prometheus metrics of this API process."""
from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from redis.exceptions import RedisError
from rq import SimpleWorker

from app.deps import RedisDep, SettingsDep
from app.schemas import Health, Readiness
from jobs import queue

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """The API process is alive (says nothing about Redis or workers)."""
    return Health()


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
def readyz(redis: RedisDep, settings: SettingsDep) -> JSONResponse:
    """Redis answers and at least one worker listens on the queue; else 503."""
    try:
        redis.ping()
        workers = SimpleWorker.count(connection=redis, queue=queue.explain_queue(redis, settings))
    except RedisError as exc:
        body = Readiness(status="unavailable", redis=False, workers=0, detail=f"Redis: {exc}")
        return JSONResponse(body.model_dump(), status_code=503)
    if workers == 0:
        body = Readiness(status="unavailable", redis=True, workers=0, detail="no worker is running")
        return JSONResponse(body.model_dump(), status_code=503)
    return JSONResponse(Readiness(status="ready", redis=True, workers=workers).model_dump())


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
def prometheus_metrics(request: Request) -> Response:
    """Prometheus text format: submissions, queue depth, live workers (workers export the rest).
    Behind the API keys like every route when they are on (README, "Metrics")."""
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
