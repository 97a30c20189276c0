"""Publishing what this worker can run (jobs.catalog), at start and every `catalog_refresh`
seconds from a thread, so the API lists and accepts exactly the models some worker can load."""
from __future__ import annotations

import logging

from redis import Redis
from redis.exceptions import RedisError

from jobs.catalog import publish
from jobs.periodic import Periodic
from jobs.settings import Settings
from saliency.catalog.models import ModelInfo
from saliency.models import describe, list_models

log = logging.getLogger("worker.catalog")


def describe_all() -> tuple[list[ModelInfo], dict[str, list[str]]]:
    """Every model of the registry as this machine can run it, and their label lists."""
    infos, labels = [], {}
    for spec in list_models():
        info = describe(spec)
        infos.append(info)
        if info.available and info.labels_sha256 not in labels:
            labels[info.labels_sha256] = spec.labels()
    return infos, labels


class Publisher(Periodic):
    def __init__(self, redis: Redis, settings: Settings, worker: str) -> None:
        super().__init__("catalog")
        self.redis = redis
        self.settings = settings
        self.worker = worker

    def publish_once(self) -> int:
        """Describe and publish; returns how many models are runnable here."""
        infos, labels = describe_all()
        publish(self.redis, self.settings, self.worker, infos, labels)
        return sum(i.available for i in infos)

    def run(self) -> None:
        while not self.stopped.wait(self.settings.catalog_refresh):
            try:
                self.publish_once()
            except RedisError as exc:  # Redis restarting: the next round tries again
                log.warning("catalog not published: %s", exc)
            except Exception:  # noqa: BLE001 - a bad models file must not stop the worker's jobs
                log.exception("catalog not published")
