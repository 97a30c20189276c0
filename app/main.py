"""Build the FastAPI application: settings, one Redis client, error mapping, body limit, API keys,
routes, and the lost-job janitor."""
from __future__ import annotations

from contextlib import asynccontextmanager
from typing import AsyncIterator

from fastapi import Depends, FastAPI
from redis import Redis

from app import auth, errors, reconstructions, webpage
from app import batches, listing
from app.jobs import Jobs
from app.limits import FORM_SLACK, BodyLimit
from app.prom import ApiMetrics, install_metrics
from app.routes import router
from app.settings import Settings, get_settings
from worker.janitor import Janitor


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    # decode_responses stays off: RQ and the stored artifacts are bytes.
    redis = Redis.from_url(settings.redis_url, socket_timeout=10, socket_connect_timeout=3,
                           health_check_interval=30)

    # Lost jobs are swept from the API too, so they leave `started` even with no worker left.
    janitor = Janitor(redis, settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        janitor.start()
        yield
        janitor.stop()
        redis.close()

    app = FastAPI(
        title="Saliency service",
        version="0.1.0",
        description="Black-box saliency maps (OISE) for image classifiers, computed by queue workers.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.redis = redis
    app.state.metrics = metrics = ApiMetrics(redis, settings)
    app.state.jobs = Jobs(redis, settings, metrics)
    errors.install(app)
    install_metrics(app, metrics)  # GET /metrics
    app.add_middleware(BodyLimit, max_bytes=settings.max_upload_bytes + FORM_SLACK,
                       per_path={"/batches": settings.max_batch_bytes + FORM_SLACK})
    auth.install(app, settings, redis)  # after BodyLimit: keys are checked before the body is read
    if settings.auth:  # every route with a job_id answers only to the key that created the job
        app.include_router(router, dependencies=[Depends(auth.owner_check)], responses=auth.RESPONSES)
        app.include_router(reconstructions.router, dependencies=[Depends(auth.owner_check)],
                           responses=auth.RESPONSES)
    else:
        app.include_router(router)
        app.include_router(reconstructions.router)
    # No job_id in their paths: they select or check the caller's own jobs themselves.
    for own_checks in (batches.router, listing.router):
        app.include_router(own_checks, responses=auth.RESPONSES if settings.auth else None)
    webpage.install(app)  # `/` and /static/: the page for people
    return app
