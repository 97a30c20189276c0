"""Build the FastAPI application: settings, one Redis client, the core's services, error
rendering, body limit, API keys, the routers, and the lost-job janitor. Imports no torch."""
from __future__ import annotations

import gc
from contextlib import asynccontextmanager
from typing import AsyncIterator

from fastapi import Depends, FastAPI
from redis import Redis

from app import errors, openapi
from app.deps import owner_check
from app.middleware import auth
from app.middleware.limits import FORM_SLACK, BodyLimit
from app.middleware.metrics import HttpMetrics
from app.prom import ApiMetrics
from app.routing import Templates
from app.routers import batches, health, jobs, kserve, models, reconstructions, webhooks, webpage
from app.schemas import ErrorBody
from jobs.catalog import Catalog
from jobs.lost import Janitor
from jobs.settings import Settings, get_settings
from jobs.state import Jobs
from jobs.submission import Submitter
from saliency.catalog.methods import load_plugins

AUTH_RESPONSES: dict[int | str, dict] = {
    401: {"model": ErrorBody, "description": "no API key, or an unknown one"},
    429: {"model": ErrorBody, "description": "this key's rate limit is spent; see Retry-After"},
}


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    load_plugins()  # methods declared by $SALIENCY_PLUGINS are accepted like the builtin ones
    # decode_responses stays off: RQ and the stored artifacts are bytes. The read timeout outlasts
    # POST /predict's wait on its reply.
    redis = Redis.from_url(settings.redis_url, socket_timeout=max(10.0, settings.predict_timeout + 5),
                           socket_connect_timeout=3, health_check_interval=30)
    catalog = Catalog(redis, settings)
    metrics = ApiMetrics(redis, settings, catalog)
    # Lost jobs are swept from the API too, so they leave `started` even with no worker left.
    janitor = Janitor(redis, settings, metrics)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        janitor.start()
        # The app's ~85,000 long-lived objects leave the collector's view: a full collection then
        # scans only what requests allocate, instead of pausing every request for ~30 ms. The
        # collection first, so no garbage of the start-up is frozen with them.
        gc.collect()
        gc.freeze()
        yield
        janitor.stop()
        redis.close()

    app = FastAPI(
        title="Saliency service",
        version="0.1.0",
        description="Black-box saliency maps (OISE) for image classifiers, computed by queue workers.",
        lifespan=lifespan,
    )
    app.state.settings, app.state.redis, app.state.metrics = settings, redis, metrics
    app.state.jobs = Jobs(redis, settings, metrics)
    app.state.submitter = Submitter(redis, settings, metrics)
    app.state.catalog = catalog
    errors.install(app)
    openapi.install(app)  # a schema client generators read right
    app.add_middleware(BodyLimit, max_bytes=settings.max_upload_bytes + FORM_SLACK,
                       per_path={"/batches": settings.max_batch_bytes + FORM_SLACK})
    auth.install(app, settings, redis)  # after BodyLimit: keys are checked before the body is read
    app.add_middleware(HttpMetrics, metrics=metrics, templates=Templates(app))  # outermost: sees every answer
    keyed = {"dependencies": [Depends(owner_check)], "responses": AUTH_RESPONSES} if settings.auth else {}
    for router in (jobs.router, reconstructions.router, batches.router, models.router, kserve.router,
                   webhooks.router):
        app.include_router(router, **keyed)
    app.include_router(health.router)
    webpage.install(app)  # `/` and /static/: the page for people
    return app
