"""POST /predict: a model's top classes for one picture, computed by a worker, not the API.

The API holds no model, so one forward pass goes through Redis: the picture is stored under
predict:{id}:image, a job is queued on the predict queue (which every worker takes before the
explain queue), and the API waits up to `predict_timeout` seconds on predict:{id}:reply, where the
worker pushes the answer: {"top": [...]} or {"error": {...}} in the error vocabulary. A request
nobody answered in time expires with its keys and its job (RQ's ttl), so a late worker skips it.
"""
from __future__ import annotations

import json
import math
import secrets
from typing import Any

from redis import Redis

from jobs import queue
from jobs.errors import NoWorker
from jobs.keys import Keys
from jobs.settings import Settings
from saliency import errors as library_errors

REPLY_TTL = 60  # seconds a reply waits for an API that gave up


def ask(redis: Redis, settings: Settings, image: bytes, model: str, k: int = 5) -> list[dict[str, Any]]:
    """The top `k` classes, best first; NoWorker (503) when no worker answered in time, or the
    worker's own error (e.g. model_unavailable)."""
    keys, request_id = Keys(settings.key_prefix), secrets.token_hex(16)
    wait = settings.predict_timeout
    ttl = math.ceil(wait) + 1
    with redis.pipeline() as tx:
        queue.predict_queue(redis, settings).enqueue_call(
            queue.PREDICT, kwargs={"request_id": request_id, "model": model, "k": k}, ttl=ttl,
            result_ttl=0, failure_ttl=REPLY_TTL, job_id=request_id, description=f"predict {model}",
            pipeline=tx)  # RQ may WATCH, then starts the MULTI: the picture goes in after
        tx.set(keys.predict_image(request_id), image, ex=ttl)
        tx.execute()
    got = redis.blpop([keys.predict_reply(request_id)], timeout=wait)
    if got is None:
        redis.delete(keys.predict_image(request_id))
        raise NoWorker(f"no worker answered within {wait:g} s (all busy, or none running); try again, "
                       "or give the target yourself", headers={"Retry-After": str(math.ceil(wait))})
    reply = json.loads(got[1])
    if "error" in reply:
        raise rebuild(reply["error"])
    return reply["top"]


def take_image(redis: Redis, settings: Settings, request_id: str) -> bytes | None:
    """The worker's side: the picture, once (None when the API gave up meanwhile)."""
    key = Keys(settings.key_prefix).predict_image(request_id)
    with redis.pipeline() as tx:
        tx.get(key)
        tx.delete(key)
        image, _ = tx.execute()
    return image


def answer(redis: Redis, settings: Settings, request_id: str, reply: dict[str, Any]) -> None:
    key = Keys(settings.key_prefix).predict_reply(request_id)
    with redis.pipeline() as tx:
        tx.rpush(key, json.dumps(reply))
        tx.expire(key, REPLY_TTL)
        tx.execute()


def error_reply(exc: library_errors.SaliencyError, status: int | None = None) -> dict[str, Any]:
    return {"error": {"message": exc.message, "field": exc.field, "status": status or exc.status,
                      "code": exc.code}}


def rebuild(error: dict[str, Any]) -> library_errors.SaliencyError:
    """The worker's error with its status and code, as the API answers it."""
    exc = library_errors.SaliencyError(error.get("message", "the worker could not classify the picture"),
                                       field=error.get("field"))
    exc.status, exc.code = int(error.get("status", 502)), str(error.get("code", "prediction_failed"))
    return exc
