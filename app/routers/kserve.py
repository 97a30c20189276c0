"""KServe's explainer route: `POST /v1/models/{name}:explain`, so that this service can be an
InferenceService's explainer. The body is KServe V1's, `{"instances": [...]}`, each instance an
image as base64 (a string, `{"b64": ...}`, or TF Serving's `{"image_bytes": {"b64": ...}}`), and
optionally `"parameters"` with POST /explain's fields (`method`, `target`, `params`, `metrics`).
It is another way to submit: checked the same, answered the same, asynchronously: one instance
is one job (202, Location /jobs/{id}), several are a batch (202, Location /batches/{id})."""
from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from app.deps import principal
from app.routers.jobs import submitted
from app.schemas import BatchSubmitted, Submitted, errors
from jobs.errors import TooManyImages
from jobs.validation import check_image, check_options
from saliency.errors import InvalidParams

router = APIRouter(tags=["kserve"])


class Parameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: str | None = Field(None, description="saliency method (GET /methods); default oise")
    target: str | int | None = Field(None, description="class to explain, index or label; default top-1")
    params: dict[str, Any] | None = Field(None, description="the method's options")
    metrics: list[str] | str | None = Field(None, description="deletion, insertion")


class ExplainRequest(BaseModel):
    """KServe V1's explain body."""

    instances: list[str | dict[str, Any]] = Field(min_length=1, description="images as base64")
    parameters: Parameters | None = None


def image_bytes(instance: str | dict[str, Any], i: int) -> bytes:
    """An instance's picture: base64 text, {"b64": text}, or one named field holding either."""
    value: Any = instance
    if isinstance(value, dict) and "b64" not in value and len(value) == 1:
        value = next(iter(value.values()))  # {"image_bytes": {"b64": ...}}, {"image": "..."}
    if isinstance(value, dict):
        value = value.get("b64")
    if not isinstance(value, str):
        raise InvalidParams(f"instances[{i}]", 'an image as base64: a string, {"b64": ...} or '
                                               '{"image_bytes": {"b64": ...}}')
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidParams(f"instances[{i}]", "not valid base64") from None


@router.post("/v1/models/{name}:explain", status_code=202, response_model=Submitted | BatchSubmitted,
             responses=errors(413, 415, 422, 503))
async def explain(name: str, body: ExplainRequest, request: Request) -> Response:
    """Queue the explanation of each instance with model `name` (KServe V1 explain; README,
    "Explaining a model served elsewhere"). Poll the job or batch at its Location."""
    state = request.app.state
    answer = await run_in_threadpool(_submit, state, name, body, principal(request) or "")
    where = f"/batches/{answer.batch_id}" if isinstance(answer, BatchSubmitted) else f"/jobs/{answer.job_id}"
    return submitted(answer, False, where)


def _submit(state: Any, name: str, body: ExplainRequest, owner: str) -> Submitted | BatchSubmitted:
    settings, catalog = state.settings, state.catalog
    if len(body.instances) > settings.max_batch_images:
        raise TooManyImages(f"{len(body.instances)} instances; at most {settings.max_batch_images} per request",
                            field="instances")
    p = body.parameters or Parameters()
    metrics = json.dumps(p.metrics) if isinstance(p.metrics, list) else p.metrics
    options = check_options(catalog, settings, model=name, method=p.method,
                            target=None if p.target is None else str(p.target), params=p.params, metrics=metrics)
    uploads = [check_image(image_bytes(instance, i), settings.max_upload_bytes,
                           f"instances[{i}]" if len(body.instances) > 1 else "")
               for i, instance in enumerate(body.instances)]
    generator = catalog.get(name).generator
    if len(uploads) == 1:
        return state.submitter.explain(uploads[0], options, owner, generator)[0]
    return state.submitter.batch(uploads, options, owner, generator)[0]
