"""Every dependency the routes take, in one place: the app's services, the caller's key name, the
ownership check of routes with a job id, and the form fields POST /explain and POST /batches share."""
from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Form, Header, Request
from fastapi.security import APIKeyHeader, HTTPBearer
from redis import Redis

from jobs.catalog import Catalog
from jobs.errors import JobNotFound
from jobs.reconstructions import Reconstructions
from jobs.settings import Settings
from jobs.state import Jobs
from jobs.store import Store
from jobs.submission import Submitter


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _redis(request: Request) -> Redis:
    return request.app.state.redis


def _jobs(request: Request) -> Jobs:
    return request.app.state.jobs


def _submitter(request: Request) -> Submitter:
    return request.app.state.submitter


def _catalog(request: Request) -> Catalog:
    return request.app.state.catalog


def _recons(request: Request) -> Reconstructions:
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


def _owner(request: Request) -> str:
    return principal(request) or ""


def _reader(request: Request) -> str | None:
    """Whose records the caller may read: its key name, or None (anyone's) when auth is off."""
    return principal(request) if request.app.state.settings.auth else None


OwnerDep = Annotated[str, Depends(_owner)]
ReaderDep = Annotated[str | None, Depends(_reader)]

# Declared so that the OpenAPI document and /docs show both ways to send a key; the middleware
# does the checking.
_bearer = HTTPBearer(auto_error=False, description="API key as a bearer token")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")


def owner_check(request: Request, _b: object = Depends(_bearer), _k: object = Depends(_api_key)) -> None:
    """A route with a `job_id` answers 404 unless the job was created with the caller's key."""
    job_id = request.path_params.get("job_id")
    settings: Settings = request.app.state.settings
    if job_id is None or not settings.auth:
        return
    owner = Store(request.app.state.redis, settings).owner_of(job_id)
    if owner is None or owner != principal(request):
        # The very message of an unknown id: an id's existence is not revealed.
        raise JobNotFound(f"no job {job_id!r}")


class SubmissionForm:
    """The form fields of a submission besides its image(s)."""

    def __init__(
        self,
        model: Annotated[str | None, Form(description="registered model name (GET /models); default "
                                                      "from settings")] = None,
        method: Annotated[str | None, Form(description="saliency method (GET /methods); default oise")] = None,
        target: Annotated[str | None, Form(description="class to explain, index or label; default "
                                                       "top-1")] = None,
        params: Annotated[str | None, Form(description='method options as a JSON object, e.g. '
                                                       '{"queries": 500}')] = None,
        metrics: Annotated[str | None, Form(description="metrics of the map (deletion, insertion): JSON "
                                                        "list or comma-separated")] = None,
        reconstruct: Annotated[bool, Form(description="then reconstruct the salient region (the model "
                                                      "must declare a generator)")] = False,
        reconstruct_params: Annotated[str | None, Form(description="reconstruction options as a JSON "
                                                                   "object")] = None,
        callback_url: Annotated[str | None, Form(description="http(s) URL that gets the job document, "
                                                             "signed, once the job ends (README, Webhooks)")] = None,
        webhook_events_filter: Annotated[str | None, Form(description="events sent to callback_url: "
                                                                      "start, progress, completed (JSON list or "
                                                                      "comma-separated); default completed")] = None,
        idempotency_key: Annotated[str | None, Header(
            alias="Idempotency-Key", description="the same key with the same request answers the same "
                                                 "job(s) (200); with a different request, 422; while the "
                                                 "first is still being processed, 409")] = None,
    ) -> None:
        self.model, self.method, self.target, self.params = model, method, target, params
        self.metrics, self.reconstruct, self.reconstruct_params = metrics, reconstruct, reconstruct_params
        self.callback_url, self.idempotency_key = callback_url, idempotency_key
        self.webhook_events_filter = webhook_events_filter

    def options(self) -> dict[str, object]:
        return {"model": self.model, "method": self.method, "target": self.target, "params": self.params,
                "metrics": self.metrics, "reconstruct": self.reconstruct,
                "reconstruct_params": self.reconstruct_params, "callback_url": self.callback_url,
                "webhook_events_filter": self.webhook_events_filter}


FormDep = Annotated[SubmissionForm, Depends()]
