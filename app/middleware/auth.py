"""API keys, per-key rate limits, CORS and job ownership.

Every request except the health checks, the API documentation and the web page's static files
must carry a key, as `Authorization: Bearer <secret>` or `X-API-Key: <secret>`. Keys are configured as `name:secret`
pairs (SALIENCY_API_KEYS); the name is who owns the jobs submitted with that key, so a key can be
rotated by giving the same name a new secret. A job and its artifacts answer only to the name that
created it; anyone else gets the same 404 as for an id that never existed, so ids do not leak.

The key and the rate limit are checked in an ASGI middleware, before the request body is read:
an anonymous client cannot make the API parse a 20 MB upload. Ownership needs the route's
`job_id`, so it is a dependency of the routers with job ids (app.deps.owner_check).

SALIENCY_AUTH=off turns all of this off, for local use on loopback (`make run`).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from redis import Redis
from redis.exceptions import RedisError
from starlette.types import ASGIApp, Receive, Scope, Send

from app.errors import body, redis_unavailable
from app.middleware.ratelimit import RateLimiter
from jobs.settings import Settings

# Reachable without a key: liveness, readiness, and the API's own documentation.
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc",
                          "/"})
# The web page (app/webpage.py) and its files: static, no data; the page sends the user's key itself.
PUBLIC_PREFIXES = ("/static/",)
# Requests that make the service compute: they share the submission budget.
SUBMIT_PATHS = frozenset({"/explain", "/predict", "/batches"})  # a batch is one submission


class AuthConfigError(ValueError):
    """The key configuration is unusable; the API refuses to start rather than run open."""


def parse_keys(raw: str) -> dict[str, str]:
    """`name:secret,name2:secret2` -> {sha256(secret): name}. Only digests are kept in memory."""
    keys: dict[str, str] = {}
    for entry in (e.strip() for e in raw.split(",")):
        if not entry:
            continue
        name, sep, secret = entry.partition(":")
        name, secret = name.strip(), secret.strip()
        if not sep or not name or not secret:
            raise AuthConfigError(f"SALIENCY_API_KEYS entries are name:secret; got {entry.split(':')[0]!r}:…")
        if len(secret) < 16:
            raise AuthConfigError(f"the secret of API key {name!r} is shorter than 16 characters")
        digest = _digest(secret)
        if digest in keys:
            raise AuthConfigError(f"API keys {keys[digest]!r} and {name!r} have the same secret")
        keys[digest] = name
    return keys


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def presented_key(headers: dict[bytes, bytes]) -> str | None:
    auth = headers.get(b"authorization", b"").decode("latin-1").strip()
    scheme, _, token = auth.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    key = headers.get(b"x-api-key", b"").decode("latin-1").strip()
    return key or None


@dataclass(frozen=True)
class Gate:
    """What the middleware needs: the keys, the limiter and the budgets."""

    keys: dict[str, str]  # sha256 of secret -> name
    limiter: RateLimiter
    submit_limit: int
    read_limit: int


class AuthMiddleware:
    def __init__(self, app: ASGIApp, gate: Gate) -> None:
        self.app = app
        self.gate = gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] == "OPTIONS" or _public(scope["path"]):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", ()))
        key = presented_key(headers)
        name = self.gate.keys.get(_digest(key)) if key else None
        if name is None:
            await _reply(send, 401, "a valid API key is required (Authorization: Bearer <key> or X-API-Key)",
                         "unauthorized", {"WWW-Authenticate": 'Bearer realm="saliency"'})
            return
        submit = scope["method"] == "POST" and scope["path"] in SUBMIT_PATHS
        try:
            decision = self.gate.limiter.hit(f"{name}:{'submit' if submit else 'read'}",
                                             self.gate.submit_limit if submit else self.gate.read_limit)
        except RedisError:
            status, detail, code, retry = redis_unavailable()
            await _reply(send, status, detail, code, retry)
            return
        if not decision.allowed:
            what = "submissions" if submit else "requests"
            await _reply(send, 429, f"too many {what} for this API key; retry in {decision.retry_after_header} s",
                         "rate_limited", {"Retry-After": decision.retry_after_header})
            return
        scope.setdefault("state", {})["principal"] = name
        await self.app(scope, receive, send)


def _public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


async def _reply(send: Send, status: int, detail: str, code: str, headers: dict[str, str]) -> None:
    content = body(detail, code)
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(content)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": content})


def install(app: FastAPI, settings: Settings, redis: Redis) -> None:
    """Add the key check (unless auth is off) and, when origins are configured, CORS."""
    if settings.auth:
        keys = parse_keys(settings.api_keys)
        if not keys:
            raise AuthConfigError("SALIENCY_AUTH is on but SALIENCY_API_KEYS is empty: set name:secret "
                                  "keys, or SALIENCY_AUTH=off for local use only")
        gate = Gate(keys, RateLimiter(redis, settings.key_prefix), settings.rate_limit, settings.read_rate_limit)
        app.add_middleware(AuthMiddleware, gate=gate)
    origins = settings.cors_origin_list()
    if origins:  # added last, so it is outermost: preflight requests carry no key
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["Authorization", "X-API-Key", "Content-Type", "Idempotency-Key"],
                           expose_headers=["Location", "Retry-After", "Idempotent-Replayed"])
