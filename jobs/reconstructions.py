"""Reconstructions of a job's salient region: queue one, read its state, fetch its pictures.

A reconstruction is its own RQ job (jobs.queue.RECONSTRUCT) that depends on the explanation job
through RQ's `depends_on`: RQ defers it until the explanation has finished and then queues it; if
the explanation fails or is canceled, it is never run and reports so. Its own Redis keys:

    source:{job}     the uploaded image, kept for reconstructions (the explanation's upload is
                     dropped once used); only for models with a generator, as long as the
                     explanation's results can live
    recons:{job}     set of the job's reconstruction ids
    recon:{rid}      hash: summary JSON, variations.png, variation-<k>.png (result_ttl)
"""
from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from redis import Redis
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus

from jobs import meta, queue
from jobs.errors import JobConflict, JobExpired, JobNotFound
from jobs.keys import Keys
from jobs.settings import Settings
from jobs.state import Jobs

SUMMARY = "summary.json"
GRID = "variations.png"


def variation_name(k: int) -> str:
    return f"variation-{k}.png"


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
        self.keys = Keys(jobs.settings.key_prefix)
        self.queue = queue.explain_queue(self.redis, self.settings)

    def keep_source(self, job_id: str, image: bytes) -> None:
        self.redis.set(self.keys.source(job_id), image, ex=source_ttl(self.settings))

    def submit(self, job_id: str, model: str, params: dict[str, Any]) -> str:
        """Queue a reconstruction of `job_id`'s salient region, run once the explanation has finished."""
        if not self.redis.exists(self.keys.source(job_id)):
            raise JobExpired(f"the image of job {job_id} is no longer kept, so it cannot be reconstructed")
        recon_id = secrets.token_hex(16)
        ttl = source_ttl(self.settings)
        with self.redis.pipeline() as pipe:
            pipe.sadd(self.keys.recons(job_id), recon_id)
            pipe.expire(self.keys.recons(job_id), max(ttl, self.settings.record_ttl))
            pipe.execute()
        self.queue.enqueue_call(
            queue.RECONSTRUCT,
            kwargs={"recon_id": recon_id, "job_id": job_id, "model": model, "params": params},
            depends_on=job_id,
            timeout=self.settings.job_timeout,
            result_ttl=self.settings.result_ttl,
            failure_ttl=self.settings.failure_ttl,
            ttl=ttl,  # a reconstruction still waiting when the image expires could only fail
            job_id=recon_id,
            description=f"reconstruct {model} for {job_id}",
            meta=meta.new_reconstruction(job_id, params),
        )
        return recon_id

    def ids(self, job_id: str) -> list[str]:
        return sorted(m.decode() for m in self.redis.smembers(self.keys.recons(job_id)))

    def _fetch(self, job_id: str, recon_id: str) -> Job:
        if not self.redis.sismember(self.keys.recons(job_id), recon_id):
            raise JobNotFound(f"job {job_id} has no reconstruction {recon_id!r}")
        try:
            return queue.fetch(self.redis, recon_id)
        except NoSuchJobError:
            raise JobExpired(f"reconstruction {recon_id} has expired") from None

    def state(self, job_id: str, recon_id: str) -> ReconState:
        job = self._fetch(job_id, recon_id)
        status = queue.status_of(job)
        error = meta.error(job)
        if status == "failed" and meta.canceled(job):
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
            raw = self.redis.hget(self.keys.recon(recon_id), SUMMARY)
            if raw is None:
                raise JobExpired(f"the results of reconstruction {recon_id} have expired")
            summary = json.loads(raw)
        return ReconState(recon_id, job_id, status, 1.0 if status == "finished" else meta.progress(job),
                          job.created_at, job.started_at, job.ended_at, meta.recon_params(job), error, summary)

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
        data = self.redis.hget(self.keys.recon(recon_id), name)
        if data is None:
            raise JobNotFound(f"reconstruction {recon_id} has no picture {name!r}")
        return data

    def keep_and_submit(self, job_id: str, image: bytes, model: str, params: dict[str, Any] | None) -> str | None:
        """After an explanation was queued for a model with a generator: keep its image for
        reconstructions and queue the one asked for; returns its id."""
        self.keep_source(job_id, image)
        return None if params is None else self.submit(job_id, model, params)

    def store_result(self, recon_id: str, fields: dict[str, bytes]) -> None:
        """The worker's pictures and summary (SUMMARY, GRID, variation-<k>.png), all or none."""
        with self.redis.pipeline() as pipe:
            pipe.hset(self.keys.recon(recon_id), mapping=fields)
            pipe.expire(self.keys.recon(recon_id), self.settings.result_ttl)
            pipe.execute()

    def stored_summary(self, recon_id: str) -> dict[str, Any] | None:
        raw = self.redis.hget(self.keys.recon(recon_id), SUMMARY)
        return json.loads(raw) if raw is not None else None

    def source(self, job_id: str) -> bytes | None:
        return self.redis.get(self.keys.source(job_id))


def recon_url(job_id: str, recon_id: str) -> str:
    return f"/jobs/{job_id}/reconstructions/{recon_id}"
