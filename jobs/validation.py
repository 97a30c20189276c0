"""Check a submission before anything is stored or queued, against the catalog the workers
published (jobs.catalog) and the library's torch-free registries: the method's options model,
the metric names, the reconstruction options. Cheapest checks first; the image is decoded last.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from jobs.callbacks import accept_callback
from jobs.catalog import Catalog
from jobs.errors import UploadTooLarge
from jobs.meta import ImageRecord, TargetRecord
from jobs.settings import Settings
from saliency.catalog.methods import method_info
from saliency.catalog.metrics import parse_metrics
from saliency.catalog.reconstruction import parse_params as parse_reconstruction
from saliency.catalog.targets import resolve_target
from saliency.errors import InvalidParams, NoGenerator, SaliencyError, UnsupportedMethod
from saliency.images import open_image

PARAMS_EXAMPLE = '{"queries": 500, "seed": 1}'


@dataclass(frozen=True)
class Upload:
    data: bytes
    width: int
    height: int

    def record(self) -> ImageRecord:
        return {"width": self.width, "height": self.height, "bytes": len(self.data),
                "sha256": hashlib.sha256(self.data).hexdigest()}


@dataclass(frozen=True)
class Options:
    """Everything a submission asks for but the images, as accepted: names resolved, option
    defaults filled in. Two requests with equal Options and images are the same request."""

    model: str
    method: str
    target: TargetRecord | None  # None: the model's top-1 class
    params: dict[str, Any]
    metrics: list[str]
    callback_url: str | None = None
    reconstruct: dict[str, Any] | None = None  # the reconstruction's options when asked for


def check_size(data: bytes, max_bytes: int) -> None:
    if len(data) > max_bytes:
        raise UploadTooLarge(f"the image is {len(data)} bytes; the limit is {max_bytes}")


def check_image(data: bytes, max_bytes: int, label: str = "") -> Upload:
    """The upload as a picture; 413 / 415 errors, prefixed with `label` (a batch names the image)."""
    try:
        check_size(data, max_bytes)
        picture = open_image(data)
    except SaliencyError as exc:
        if label:
            raise type(exc)(f"{label}: {exc}") from None
        raise
    return Upload(data, picture.width, picture.height)


def json_field(raw: str | None, field: str, example: str = PARAMS_EXAMPLE) -> Any:
    if raw is None or not raw.strip():
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidParams(field, f"not valid JSON ({exc}); send a JSON object, e.g. {example}") from None


def check_options(catalog: Catalog, settings: Settings, *, model: str | None = None, method: str | None = None,
                  target: str | None = None, params: str | dict[str, Any] | None = None,
                  metrics: str | None = None, reconstruct: bool = False,
                  reconstruct_params: str | dict[str, Any] | None = None,
                  callback_url: str | None = None) -> Options:
    """Raise the error of the first field at fault (422, or 503 for a model that cannot run)."""
    model = model or settings.default_model
    method = method or settings.default_method
    info = catalog.get(model)
    spec = method_info(method)
    if spec.needs == "gradients" and not info.gradients:
        raise UnsupportedMethod(f"method {method!r} needs gradients, which model {model!r} does not "
                                f"offer; use a black-box method ({', '.join(info.methods)})")
    resolved = None
    if target is not None and target.strip():
        labels = catalog.labels(info)
        idx = resolve_target(labels, target, model)
        resolved = TargetRecord(index=idx, label=labels[idx])
    raw = params if isinstance(params, dict) else json_field(params, "params")
    parsed = spec.parse_params(raw).model_dump(mode="json")
    names = parse_metrics(metrics)
    recon = None
    if reconstruct:
        if not info.generator:
            raise NoGenerator(f"model {model!r} declares no generator, so its salient region cannot be "
                              "reconstructed")
        recon = check_reconstruction(reconstruct_params, "reconstruct_params")
    return Options(model, method, resolved, parsed, names, accept_callback(callback_url, settings), recon)


def check_reconstruction(raw: str | dict[str, Any] | None, field: str) -> dict[str, Any]:
    value = raw if not isinstance(raw, str) else json_field(raw, field, '{"variations": 16, "hidden": 0.5}')
    try:
        return parse_reconstruction(value).model_dump(mode="json")
    except InvalidParams as exc:
        raise InvalidParams(field + exc.field.removeprefix("params"), exc.message) from None
