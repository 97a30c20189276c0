"""The multipart forms of POST /explain and POST /batches, read by hand.

FastAPI's per-field form machinery (dependency solving, one thread hand-off per plain dependency,
per-field validation) cost about a third of a submission's CPU time in the API (saliency bench
load, docs/benchmarks.md), so these two routes read the form with Starlette's parser and check
the fields themselves. Their OpenAPI request bodies come from the models below, with the image
parts typed `format: binary` as client generators expect.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile
from starlette.requests import Request

from saliency.errors import SaliencyError

TRUE, FALSE = frozenset({"true", "1", "yes", "on"}), frozenset({"false", "0", "no", "off", ""})


class FormError(SaliencyError):
    code = "invalid_request"


@dataclass(frozen=True)
class SubmissionForm:
    """The fields of a submission besides its image(s), as sent."""

    model: str | None = None
    method: str | None = None
    target: str | None = None
    params: str | None = None
    metrics: str | None = None
    reconstruct: bool = False
    reconstruct_params: str | None = None
    callback_url: str | None = None
    webhook_events_filter: str | None = None

    def options(self) -> dict[str, Any]:
        """The keyword arguments of jobs.validation.check_options."""
        return asdict(self)


class _Fields(BaseModel):
    model: str | None = Field(None, description="registered model name (GET /models); default from settings")
    method: str | None = Field(None, description="saliency method (GET /methods); default oise")
    target: str | None = Field(None, description="class to explain, index or label; default top-1")
    params: str | None = Field(None, description='method options as a JSON object, e.g. {"queries": 500}')
    metrics: str | None = Field(None, description="metrics of the map (deletion, insertion): JSON list or "
                                                  "comma-separated")
    reconstruct: bool = Field(False, description="then reconstruct the salient region (the model must declare "
                                                 "a generator)")
    reconstruct_params: str | None = Field(None, description="reconstruction options as a JSON object")
    callback_url: str | None = Field(None, description="http(s) URL that gets the job document, signed, once "
                                                       "the job ends (README, Webhooks)")
    webhook_events_filter: str | None = Field(None, description="events sent to callback_url: start, progress, "
                                                                "completed (JSON list or comma-separated); "
                                                                "default completed")


class ExplainForm(_Fields):
    """POST /explain's multipart body (for the OpenAPI document)."""

    image: bytes = Field(json_schema_extra={"format": "binary"},
                         description="the picture to explain (JPEG, PNG, WebP, AVIF, GIF, BMP, TIFF)")


class BatchForm(_Fields):
    """POST /batches' multipart body: the same fields, several images."""

    images: list[bytes] = Field(min_length=1, json_schema_extra={"items": {"type": "string", "format": "binary"}},
                                description="the pictures, one `images` part each")


def request_body(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` for a route whose body is this multipart form."""
    schema = model.model_json_schema()
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}}


async def read(request: Request, files: str) -> tuple[list[tuple[bytes, str]], SubmissionForm]:
    """The parts named `files` (bytes and file name, at least one) and the other fields."""
    form = await request.form()
    uploads: list[tuple[bytes, str]] = []
    for part in form.getlist(files):
        if not isinstance(part, UploadFile):
            raise FormError(f"{files}: must be a file part", field=files)
        uploads.append((await part.read(), part.filename or ""))
    if not uploads:
        raise FormError(f"{files}: Field required", field=files)
    texts: dict[str, str] = {}
    for name, value in form.multi_items():
        if name == files:
            continue
        if not isinstance(value, str):
            raise FormError(f"{name}: must be a text field", field=name)
        if name in texts:  # the last one would silently win
            raise FormError(f"{name}: given more than once; send it once (several webhook events go "
                            "comma-separated in one field)", field=name)
        texts[name] = value
    flag = texts.pop("reconstruct", "false").strip().lower()
    if flag not in TRUE | FALSE:
        raise FormError("reconstruct: Input should be a valid boolean", field="reconstruct")
    known = SubmissionForm.__dataclass_fields__
    fields = {k: v for k, v in texts.items() if k in known}
    return uploads, SubmissionForm(**fields, reconstruct=flag in TRUE)
