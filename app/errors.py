"""Every failure as one JSON shape, ErrorBody: {"detail", "code", "field"}. Errors of the library
and the core carry their status and code (saliency.errors); this module only renders them, and
the middleware's own answers (401, 413, 429) use the same `body`."""
from __future__ import annotations

import json
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.exceptions import HTTPException

from saliency.errors import SaliencyError

log = logging.getLogger(__name__)
# Seconds a client is told to wait when Redis is down (a restart with its append-only file).
REDIS_RETRY_AFTER = 5


def body(detail: str, code: str, field: str | None = None) -> bytes:
    return json.dumps({"detail": detail, "code": code, "field": field}).encode()


def error(status: int, detail: str, code: str, field: str | None = None,
          headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail, "code": code, "field": field}, status_code=status, headers=headers)


def redis_unavailable() -> tuple[int, str, str, dict[str, str]]:
    return (503, "the job store (Redis) is unavailable; try again shortly", "redis_unavailable",
            {"Retry-After": str(REDIS_RETRY_AFTER)})


def install(app: FastAPI) -> None:
    @app.exception_handler(SaliencyError)
    async def known(_: Request, exc: SaliencyError) -> JSONResponse:
        if exc.status >= 500:
            log.error("%s: %s", type(exc).__name__, exc)
        return error(exc.status, str(exc), exc.code, exc.field, exc.headers or None)

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
        status, detail, code, headers = redis_unavailable()
        return error(status, detail, code, headers=headers)

    app.add_exception_handler(RedisConnectionError, redis_down)
    app.add_exception_handler(RedisTimeoutError, redis_down)
