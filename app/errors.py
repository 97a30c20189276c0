"""Map every failure to an HTTP status and one JSON shape, app.schemas.ErrorBody."""
from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.exceptions import HTTPException

from app.batch_store import BatchNotFound
from app.idempotency import BadIdempotencyKey, IdempotencyConflict
from app.jobs import JobConflict, JobExpired, JobNotFound
from app.limits import BodyTooLarge
from app.validation import FieldError, NotAnImage, PixelsTooMany, UploadTooLarge
from saliency.errors import ModelUnavailable

log = logging.getLogger(__name__)
# Seconds a client is told to wait when Redis is down (a restart with its append-only file).
REDIS_RETRY_AFTER = 5


def error(status: int, detail: str, code: str, field: str | None = None,
          headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail, "code": code, "field": field}, status_code=status,
                        headers=headers)


# exception class -> (status, code)
_SIMPLE: dict[type[Exception], tuple[int, str]] = {
    UploadTooLarge: (413, "upload_too_large"),
    BodyTooLarge: (413, "upload_too_large"),
    NotAnImage: (415, "not_an_image"),
    PixelsTooMany: (413, "image_too_large"),
    JobNotFound: (404, "job_not_found"),
    BatchNotFound: (404, "batch_not_found"),
    JobExpired: (410, "expired"),
    JobConflict: (409, "conflict"),
    ModelUnavailable: (503, "model_unavailable"),
    IdempotencyConflict: (409, "idempotency_conflict"),
    BadIdempotencyKey: (422, "invalid_idempotency_key"),
}


def install(app: FastAPI) -> None:
    for exc_class, (status, code) in _SIMPLE.items():
        app.add_exception_handler(exc_class, _simple(status, code))

    @app.exception_handler(FieldError)
    async def field_error(_: Request, exc: FieldError) -> JSONResponse:
        return error(422, exc.message, exc.code, exc.field)

    @app.exception_handler(RequestValidationError)
    async def request_invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        loc = [str(p) for p in first.get("loc", ())]
        field = ".".join(loc[1:] if loc and loc[0] in ("body", "query", "path", "header") else loc)
        return error(422, f"{field}: {first.get('msg', 'invalid')}", "invalid_request", field or None)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return error(exc.status_code, str(exc.detail), f"http_{exc.status_code}", headers=exc.headers)

    async def redis_down(_: Request, exc: Exception) -> JSONResponse:
        log.error("Redis unavailable: %s", exc)
        return error(503, "the job store (Redis) is unavailable; try again shortly", "redis_unavailable",
                     headers={"Retry-After": str(REDIS_RETRY_AFTER)})

    app.add_exception_handler(RedisConnectionError, redis_down)
    app.add_exception_handler(RedisTimeoutError, redis_down)


def _simple(status: int, code: str):
    async def handler(_: Request, exc: Exception) -> JSONResponse:
        return error(status, str(exc), code)
    return handler
