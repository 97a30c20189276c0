"""Every dependency the routes take, in one place: the app's services, the caller's key name and
the ownership check of routes with a job id. (The submission forms are read in app/forms.py.)

They are `async def`: FastAPI runs a plain `def` dependency in its thread pool, a hand-off per
dependency per request that cost more than the work (bench load, docs/benchmarks.md). The one
that reads Redis (owner_check) hands only that read to the pool, and only for routes with a job id."""
from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPBearer
from redis import Redis
from starlette.concurrency import run_in_threadpool

from jobs.catalog import Catalog
from jobs.errors import JobNotFound
from jobs.reconstructions import Reconstructions
from jobs.settings import Settings
from jobs.state import Jobs
from jobs.store import Store
from jobs.submission import Submitter


async def _settings(request: Request) -> Settings:
    return request.app.state.settings


async def _redis(request: Request) -> Redis:
    return request.app.state.redis


async def _jobs(request: Request) -> Jobs:
    return request.app.state.jobs


async def _submitter(request: Request) -> Submitter:
    return request.app.state.submitter


async def _catalog(request: Request) -> Catalog:
    return request.app.state.catalog


async def _recons(request: Request) -> Reconstructions:
    return request.app.state.submitter.recons


SettingsDep = Annotated[Settings, Depends(_settings)]
RedisDep = Annotated[Redis, Depends(_redis)]
JobsDep = Annotated[Jobs, Depends(_jobs)]
SubmitterDep = Annotated[Submitter, Depends(_submitter)]
CatalogDep = Annotated[Catalog, Depends(_catalog)]
ReconsDep = Annotated[Reconstructions, Depends(_recons)]


def principal(request: Request) -> str | None:
    """The key name the request was made with (app.middleware.auth); None when auth is off."""
    return getattr(request.state, "principal", None)


async def _owner(request: Request) -> str:
    return principal(request) or ""


async def _reader(request: Request) -> str | None:
    """Whose records the caller may read: its key name, or None (anyone's) when auth is off."""
    return principal(request) if request.app.state.settings.auth else None


OwnerDep = Annotated[str, Depends(_owner)]
ReaderDep = Annotated[str | None, Depends(_reader)]

# Declared so that the OpenAPI document and /docs show both ways to send a key; the middleware
# does the checking.
_bearer = HTTPBearer(auto_error=False, description="API key as a bearer token")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")


async def owner_check(request: Request, _b: object = Depends(_bearer), _k: object = Depends(_api_key)) -> None:
    """A route with a `job_id` answers 404 unless the job was created with the caller's key."""
    job_id = request.path_params.get("job_id")
    settings: Settings = request.app.state.settings
    if job_id is None or not settings.auth:
        return
    owner = await run_in_threadpool(Store(request.app.state.redis, settings).owner_of, job_id)
    if owner is None or owner != principal(request):
        # The very message of an unknown id: an id's existence is not revealed.
        raise JobNotFound(f"no job {job_id!r}")
