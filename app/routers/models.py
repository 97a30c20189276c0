"""What the service can run: GET /models (from the workers' published catalog), GET /methods
(options as JSON Schema), and POST /predict (a model's top classes, computed by a worker)."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, UploadFile

from app.deps import CatalogDep, RedisDep, SettingsDep
from app.schemas import MethodView, ModelInfo, Prediction, errors
from jobs import predict
from jobs.validation import check_image
from saliency.catalog.methods import registry

router = APIRouter(tags=["models"])


@router.get("/models", response_model=list[ModelInfo], responses=errors(503))
def models(catalog: CatalogDep, everything: Annotated[bool, Query(
        alias="all", description="also models a worker knows but cannot run (weights missing), with why")] = False,
           ) -> list[ModelInfo]:
    """Every model the workers can run, and the methods that can explain each."""
    return [info for info in catalog.models().values() if everything or info.available]


@router.get("/methods", response_model=list[MethodView])
def methods() -> list[MethodView]:
    """Every method: what it needs of a model, and its options (`params`) as JSON Schema."""
    return [MethodView(name=m.name, needs=m.needs, description=m.description, options=m.schema())
            for m in sorted(registry().values(), key=lambda m: m.name)]


@router.post("/predict", response_model=list[Prediction], responses=errors(413, 415, 422, 503))
def predict_top5(
    settings: SettingsDep,
    catalog: CatalogDep,
    redis: RedisDep,
    image: Annotated[UploadFile, File(description="the picture to classify (as for POST /explain)")],
    model: Annotated[str | None, Form(description="registered model name; default from settings")] = None,
) -> list[Prediction]:
    """The model's top-5 classes for the picture, best first: candidate targets for POST /explain.
    Checked like POST /explain and counted against the same submission rate limit; answered by a
    worker within `SALIENCY_PREDICT_TIMEOUT` seconds, else 503 with Retry-After."""
    name = model or settings.default_model
    catalog.get(name)  # 422 for an unknown model before the upload is decoded
    upload = check_image(image.file.read(settings.max_upload_bytes + 1), settings.max_upload_bytes)
    return [Prediction(**p) for p in predict.ask(redis, settings, upload.data, name)]
