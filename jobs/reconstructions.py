"""Reconstructions of a job's salient region, as the API sees them: queue, read, fetch pictures.

A reconstruction is its own RQ job (worker.reconstruct.run_reconstruction) that depends on the
explanation job through RQ's `depends_on`: RQ defers it until the explanation has finished and
then queues it; if the explanation fails or is canceled, it is never run and reports so. Its
own Redis keys, beside app.store's:

    {prefix}:source:{job}     the uploaded image, kept for reconstructions (the explanation's
                              upload is dropped once used); only for models with a generator,
                              as long as the explanation's results can live
    {prefix}:recons:{job}     set of the job's reconstruction ids
    {prefix}:recon:{rid}      hash: summary JSON, variations.png, variation-<k>.png (result_ttl)
"""
from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from redis import Redis
from rq import Queue
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus

from app.jobs import SERIALIZER, JobConflict, JobExpired, JobNotFound, Jobs
from app.settings import Settings

TASK = "worker.reconstruct.run_reconstruction"
SUMMARY = "summary.json"
GRID = "variations.png"


def variation_name(k: int) -> str:
    return f"variation-{k}.png"


class ReconKeys:
    def __init__(self, settings: Settings) -> None:
        self.prefix = settings.key_prefix

    def source(self, job_id: str) -> str:
        return f"{self.prefix}:source:{job_id}"

    def index(self, job_id: str) -> str:
        return f"{self.prefix}:recons:{job_id}"

    def result(self, recon_id: str) -> str:
        return f"{self.prefix}:recon:{recon_id}"


def source_ttl(settings: Settings) -> int:
    """Long enough for the explanation to wait, run, and keep its results."""
    return settings.upload_ttl + settings.job_timeout + settings.result_ttl


@dataclass
class ReconState:
    recon_id: str
    job_id: str
    status: str  # queued (also while waiting for the explanation), started, finished, failed, canceled
    progress: float
    created_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    params: dict[str, Any]
    error: str | None
    summary: dict[str, Any] | None


class Reconstructions:
    def __init__(self, jobs: Jobs) -> None:
        self.jobs = jobs
        self.redis: Redis = jobs.redis
        self.settings = jobs.settings
        self.keys = ReconKeys(jobs.settings)
        self.queue = Queue(jobs.settings.queue, connection=self.redis, serializer=SERIALIZER)

    def keep_source(self, job_id: str, image: bytes) -> None:
        self.redis.set(self.keys.source(job_id), image, ex=source_ttl(self.settings))

    def submit(self, job_id: str, model: str, params: dict[str, Any]) -> str:
        """Queue a reconstruction of `job_id`'s salient region, run once the explanation has finished."""
        if not self.redis.exists(self.keys.source(job_id)):
            raise JobExpired(f"the image of job {job_id} is no longer kept, so it cannot be reconstructed")
        recon_id = secrets.token_hex(16)
        ttl = source_ttl(self.settings)
        with self.redis.pipeline() as pipe:
            pipe.sadd(self.keys.index(job_id), recon_id)
            pipe.expire(self.keys.index(job_id), max(ttl, self.settings.record_ttl))
            pipe.execute()
        self.queue.enqueue_call(
            TASK,
            kwargs={"recon_id": recon_id, "job_id": job_id, "model": model, "params": params},
            depends_on=job_id,
            timeout=self.settings.job_timeout,
            result_ttl=self.settings.result_ttl,
            failure_ttl=self.settings.failure_ttl,
            ttl=ttl,  # a reconstruction still waiting when the image expires could only fail
            job_id=recon_id,
            description=f"reconstruct {model} for {job_id}",
            meta={"parent": job_id, "params": params, "progress": 0.0},
        )
        return recon_id

    def ids(self, job_id: str) -> list[str]:
        return sorted(m.decode() for m in self.redis.smembers(self.keys.index(job_id)))

    def _fetch(self, job_id: str, recon_id: str) -> Job:
        if not self.redis.sismember(self.keys.index(job_id), recon_id):
            raise JobNotFound(f"job {job_id} has no reconstruction {recon_id!r}")
        try:
            return Job.fetch(recon_id, connection=self.redis, serializer=SERIALIZER)
        except NoSuchJobError:
            raise JobExpired(f"reconstruction {recon_id} has expired") from None

    def state(self, job_id: str, recon_id: str) -> ReconState:
        job = self._fetch(job_id, recon_id)
        meta = job.meta or {}
        rq_status = job.get_status(refresh=False)
        status = {JobStatus.STARTED: "started", JobStatus.FINISHED: "finished", JobStatus.FAILED: "failed",
                  JobStatus.STOPPED: "canceled", JobStatus.CANCELED: "canceled"}.get(rq_status, "queued")
        error = meta.get("error")
        if status == "failed" and meta.get("canceled"):
            status = "canceled"
        if status == "queued":
            parent = self.jobs.state(job_id).status  # JobExpired when the explanation is gone
            if parent in ("failed", "canceled"):
                # RQ never runs a job whose dependency did not finish; say why it will not run.
                status, error = "canceled", f"the explanation job {job_id} {parent}, so nothing was reconstructed"
        if status == "failed" and not error:
            error = "the reconstruction failed without a message (was its worker lost?)"
        summary = None
        if status == "finished":
            raw = self.redis.hget(self.keys.result(recon_id), SUMMARY)
            if raw is None:
                raise JobExpired(f"the results of reconstruction {recon_id} have expired")
            summary = json.loads(raw)
        return ReconState(recon_id, job_id, status, 1.0 if status == "finished" else float(meta.get("progress", 0.0)),
                          job.created_at, job.started_at, job.ended_at, meta.get("params", {}), error, summary)

    def cancel(self, job_id: str, recon_id: str) -> ReconState:
        """Waiting: canceled at once. Running: flag set, the worker stops at its next progress call."""
        current = self.state(job_id, recon_id)
        if current.status in ("finished", "failed"):
            raise JobConflict(f"reconstruction {recon_id} has already {current.status}")
        if current.status == "canceled":
            return current
        self.jobs.store.request_cancel(recon_id)
        job = self._fetch(job_id, recon_id)
        if job.get_status() in (JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED):
            try:
                job.cancel()
            except InvalidJobOperation:
                pass  # started or ended meanwhile
            self.redis.expire(job.key, self.settings.failure_ttl)
        return self.state(job_id, recon_id)

    def picture(self, job_id: str, recon_id: str, name: str) -> bytes:
        state = self.state(job_id, recon_id)
        if state.status != "finished":
            raise JobConflict(f"reconstruction {recon_id} is {state.status}; pictures exist once it has finished")
        data = self.redis.hget(self.keys.result(recon_id), name)
        if data is None:
            raise JobNotFound(f"reconstruction {recon_id} has no picture {name!r}")
        return data
