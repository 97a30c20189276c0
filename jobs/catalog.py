"""The models the service can run, as the workers publish them: what the API validates against.

Each worker describes the models it can run (saliency.models.describe: names, input size, labels,
methods, generator, and whether its weights are present) and publishes them every
`catalog_refresh` seconds:

    catalog:{worker}   JSON list of ModelInfo, kept catalog_ttl seconds
    catalogs           sorted set: worker -> time of its last publication
    labels:{sha256}    each label list once, content-addressed

The API needs no model file and no torch: it reads the catalogs of the workers that published
lately (within three refresh periods), or, when none did (all restarting, say), the newest
catalog still kept, so that jobs can be queued while workers come back. A model is runnable when
any of those workers can run it. Every deployment's workers are expected to serve the same models
(README, "N workers on M machines").
"""
from __future__ import annotations

import difflib
import json
import threading
import time
from collections.abc import Callable

from redis import Redis

from jobs.keys import Keys
from jobs.settings import Settings
from saliency.catalog.models import ModelInfo
from saliency.errors import ModelUnavailable, UnknownModel

CACHE_SECONDS = 2.0  # an API process re-reads the catalogs at most this often
LIVE_PERIODS = 3  # a worker that published within this many refresh periods counts as live


def publish(redis: Redis, settings: Settings, worker: str, models: list[ModelInfo],
            labels: dict[str, list[str]], now: float | None = None) -> None:
    """One worker's models and their label lists (by labels_sha256), in one transaction."""
    keys, ttl, now = Keys(settings.key_prefix), settings.catalog_ttl, time.time() if now is None else now
    body = json.dumps([m.model_dump(mode="json") for m in models])
    with redis.pipeline() as pipe:
        for sha, names in labels.items():
            pipe.set(keys.labels(sha), "\n".join(names), ex=ttl)
        pipe.set(keys.catalog(worker), body, ex=ttl)
        pipe.zadd(keys.catalogs(), {worker: now})
        pipe.zremrangebyscore(keys.catalogs(), "-inf", f"({now - ttl!r}")
        pipe.expire(keys.catalogs(), ttl)
        pipe.execute()


def merge(catalogs: list[list[ModelInfo]]) -> dict[str, ModelInfo]:
    """Newest catalog last: a model runnable anywhere is runnable; else the newest entry says why."""
    out: dict[str, ModelInfo] = {}
    for catalog in catalogs:
        for info in catalog:
            if info.name not in out or info.available or not out[info.name].available:
                out[info.name] = info
    return out


class Catalog:
    """The merged catalog, read from Redis at most every CACHE_SECONDS, and the label lists."""

    def __init__(self, redis: Redis, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self.settings = settings
        self.keys = Keys(settings.key_prefix)
        self.clock = clock
        self._models: dict[str, ModelInfo] = {}
        self._read_at = float("-inf")
        self._labels: dict[str, list[str]] = {}  # content-addressed: never stale
        self._lock = threading.Lock()

    def models(self) -> dict[str, ModelInfo]:
        now = self.clock()
        with self._lock:
            if now - self._read_at >= CACHE_SECONDS:
                self._models, self._read_at = self._read(now), now
            return self._models

    def _read(self, now: float) -> dict[str, ModelInfo]:
        live_since = now - LIVE_PERIODS * self.settings.catalog_refresh
        rows = self.redis.zrangebyscore(self.keys.catalogs(), now - self.settings.catalog_ttl, "+inf",
                                        withscores=True)
        workers = [w.decode() for w, at in rows if at >= live_since] or [w.decode() for w, _ in rows[-1:]]
        if not workers:
            return {}
        bodies = self.redis.mget([self.keys.catalog(w) for w in workers])
        return merge([[ModelInfo.model_validate(m) for m in json.loads(b)] for b in bodies if b is not None])

    def get(self, name: str) -> ModelInfo:
        """The model, runnable; UnknownModel (with close names) or ModelUnavailable (with why)."""
        models = self.models()
        info = models.get(name)
        if info is None:
            if not models:
                raise UnknownModel(f"unknown model {name!r}: no worker has published the models it can run "
                                   "yet; start a worker (python -m worker), or wait for it to load")
            close = difflib.get_close_matches(name, list(models), n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
            raise UnknownModel(f"unknown model {name!r}{hint} (GET /models lists the known ones)")
        if not info.available:
            raise ModelUnavailable(f"model {name!r} cannot run: {info.unavailable_reason}")
        return info

    def labels(self, info: ModelInfo) -> list[str]:
        sha = info.labels_sha256
        if sha not in self._labels:
            raw = self.redis.get(self.keys.labels(sha))
            if raw is None:
                raise ModelUnavailable(f"model {info.name!r}: its class names are no longer published; "
                                       "is any worker running?")
            self._labels[sha] = raw.decode().split("\n") if raw else []
        return self._labels[sha]
