"""The submission use case, shared by POST /explain (one image) and POST /batches (several):
checked options and images in; jobs, their records and the answer out.

All jobs of a submission, their uploads, id records, index entries and the batch record are one
Redis transaction: all are written or none. An `Idempotency-Key` is claimed before and its answer
stored after (jobs.idempotency); a reconstruction asked for is queued once its explanation is.
"""
from __future__ import annotations

import secrets
import time
from datetime import datetime, timezone
from typing import Any

from redis import Redis
from redis.client import Pipeline

from jobs import meta, queue
from jobs.batches import BatchRecord, BatchStore
from jobs.document import BatchLinks, BatchSubmitted, Links, Submitted
from jobs.events import Events, NoEvents
from jobs.idempotency import Idempotency, fingerprint
from jobs.index import JobIndex
from jobs.reconstructions import Reconstructions, recon_url
from jobs.settings import Settings
from jobs.state import Jobs
from jobs.store import Store
from jobs.validation import Options, Upload


def new_id() -> str:
    return secrets.token_hex(16)  # 128 random bits: ids cannot be guessed


class Submitter:
    def __init__(self, redis: Redis, settings: Settings, events: Events | None = None) -> None:
        self.redis = redis
        self.settings = settings
        self.events = events or NoEvents()
        self.store = Store(redis, settings)
        self.index = JobIndex(redis, settings)
        self.queue = queue.explain_queue(redis, settings)
        self.batches = BatchStore(redis, settings)
        self.recons = Reconstructions(Jobs(redis, settings, self.events))
        self.once = Idempotency(redis, settings)

    def explain(self, upload: Upload, options: Options, owner: str, generator: bool,
                idempotency_key: str | None = None) -> tuple[Submitted, bool]:
        """Queue one job. Returns the answer, and whether it replays an earlier request's."""
        answer, replay = self._submit([upload], options, owner, generator, idempotency_key, batch=False)
        return Submitted.model_validate(answer), replay

    def batch(self, uploads: list[Upload], options: Options, owner: str, generator: bool,
              idempotency_key: str | None = None) -> tuple[BatchSubmitted, bool]:
        """Queue one job per image and the batch record that groups them."""
        answer, replay = self._submit(uploads, options, owner, generator, idempotency_key, batch=True)
        return BatchSubmitted.model_validate(answer), replay

    def _submit(self, uploads: list[Upload], options: Options, owner: str, generator: bool,
                key: str | None, batch: bool) -> tuple[dict[str, Any], bool]:
        ids = {"job_ids": [new_id() for _ in uploads], "batch_id": new_id() if batch else None}
        fp = ""
        if key is not None:
            fp = fingerprint([u.data for u in uploads], options, "batch" if batch else "explain")
            claim = self.once.claim(owner, key, fp, ids)
            if claim.answer is not None:
                self.events.replayed()
                return claim.answer, True
        capped = queue.active_limit(self.settings, owner) is not None
        try:
            with self.redis.pipeline() as tx:
                for upload, job_id in zip(uploads, ids["job_ids"]):
                    self._enqueue(tx, job_id, upload, options, owner)
                if batch:
                    self.batches.put(tx, BatchRecord(ids["batch_id"], owner, datetime.now(timezone.utc),
                                                     ids["job_ids"]))
                if capped:
                    queue.read_held(tx, ids["job_ids"])
                results = tx.execute()
            recons = [self.recons.keep_and_submit(job_id, upload.data, options.model, options.reconstruct)
                      if generator else None for upload, job_id in zip(uploads, ids["job_ids"])]
        except BaseException:
            if key is not None:  # nothing (or not all) was created: let a retry with the key go through
                self.once.release(owner, key)
            raise
        for _ in uploads:
            self.events.submitted(options.model, options.method)
        held = queue.held(results[-len(uploads):]) if capped else None
        answer = self._answer(ids, recons, held)
        if key is not None:
            self.once.remember(owner, key, fp, ids, answer)
        return answer, False

    @staticmethod
    def _answer(ids: dict[str, Any], recons: list[str | None], held: list[bool] | None) -> dict[str, Any]:
        jobs = [Submitted(job_id=j, links=Links.for_job(j), reconstruction=r and recon_url(j, r), held=h)
                for j, r, h in zip(ids["job_ids"], recons, held or [False] * len(recons))]
        if ids["batch_id"] is None:
            return jobs[0].model_dump(mode="json")
        return BatchSubmitted(batch_id=ids["batch_id"], jobs=jobs,
                              links=BatchLinks(self=f"/batches/{ids['batch_id']}")).model_dump(mode="json")

    def _enqueue(self, tx: Pipeline, job_id: str, upload: Upload, o: Options, owner: str) -> None:
        request: meta.Request = {"model": o.model, "method": o.method, "params": o.params, "target": o.target,
                                 "image": upload.record(), "metrics": o.metrics}
        if o.callback_url:
            request["callback_url"] = o.callback_url
        if o.webhook_events:
            request["webhook_events"] = o.webhook_events
        kwargs: dict[str, Any] = {"job_id": job_id, "model": o.model, "method": o.method,
                                  "target": None if o.target is None else o.target["index"], "params": o.params}
        if o.metrics:  # only then, so a worker from before metrics still runs plain jobs
            kwargs["metrics"] = o.metrics
        queue.enqueue(
            self.queue, tx, queue.active_limit(self.settings, owner), queue.EXPLAIN,
            kwargs=kwargs,
            timeout=self.settings.job_timeout,
            result_ttl=self.settings.result_ttl,
            failure_ttl=self.settings.failure_ttl,
            # A job still queued when its upload expires could only fail: let both go together.
            ttl=self.settings.upload_ttl,
            job_id=job_id,
            description=f"explain {o.model} {o.method} {upload.width}x{upload.height}",
            meta=meta.new_explanation(request),  # in `tx`: RQ may WATCH, then starts the MULTI
        )
        self.store.put_upload(job_id, upload.data, owner, pipe=tx)
        self.index.add(tx, job_id, owner, o.model, o.method, time.time())  # for GET /jobs
