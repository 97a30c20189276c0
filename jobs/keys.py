"""Every Redis key the service writes, beside RQ's own (rq:job:{id}, rq:queue:{name}, ...), in one
place. Each family belongs to one module, which alone reads and writes it:

    {p}:upload:{job}        bytes of the upload until a worker used it               jobs.store
    {p}:result:{job}        hash: summary JSON and the artifacts                      jobs.store
    {p}:cancel:{id}         when a cancel was first asked for (job or reconstruction) jobs.store
    {p}:job:{job}           the id record: that it was issued, and to whom            jobs.store
    {p}:index:{owner}[:model:{m}|:method:{m}]   sorted sets of job ids by time        jobs.index
    {p}:batch:{batch}       JSON: owner, created_at, job ids                          jobs.batches
    {p}:idem:{owner}:{sha}  JSON: fingerprint, job ids, first answer                  jobs.idempotency
    {p}:rate:{name}         GCRA state of a key's rate limit                          app.middleware.ratelimit
    {p}:webhooks:due        sorted set: job id -> time its next delivery is due       jobs.webhooks
    {p}:webhook:{job}       list of delivery attempts                                 jobs.webhooks
    {p}:source:{job}        the upload, kept for reconstructions                      jobs.reconstructions
    {p}:recons:{job}        set of the job's reconstruction ids                       jobs.reconstructions
    {p}:recon:{recon}       hash: summary JSON and the pictures                       jobs.reconstructions
    {p}:catalog:{worker}    JSON list of the models a worker can run                  jobs.catalog
    {p}:catalogs            sorted set: worker -> time of its last publication        jobs.catalog
    {p}:labels:{sha}        a label list, content-addressed                           jobs.catalog
    {p}:predict:{request}:image   the picture of one POST /predict                    jobs.predict
    {p}:predict:{request}:reply   list the worker pushes the answer onto              jobs.predict

{p} is SALIENCY_KEY_PREFIX. Owners are API key names ("" without auth); they may not contain ':'
(app.middleware.auth refuses such names), so every key parses back unambiguously.
"""
from __future__ import annotations

from dataclasses import dataclass

FAMILIES = ("upload", "result", "cancel", "job", "index", "batch", "idem", "rate", "webhooks",
            "webhook", "source", "recons", "recon", "catalog", "catalogs", "labels", "predict")


class ForeignKey(ValueError):
    """A key that is not one of the service's."""


@dataclass(frozen=True)
class Keys:
    prefix: str

    def _k(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def upload(self, job_id: str) -> str:
        return self._k("upload", job_id)

    def result(self, job_id: str) -> str:
        return self._k("result", job_id)

    def cancel(self, job_id: str) -> str:
        return self._k("cancel", job_id)

    def job(self, job_id: str) -> str:
        return self._k("job", job_id)

    def index(self, owner: str, model: str | None = None, method: str | None = None) -> str:
        """The narrowest index for the filters: the model's if given, else the method's, else all."""
        if model is not None:
            return self._k("index", owner, "model", model)
        if method is not None:
            return self._k("index", owner, "method", method)
        return self._k("index", owner)

    def batch(self, batch_id: str) -> str:
        return self._k("batch", batch_id)

    def idempotency(self, owner: str, key_sha256: str) -> str:
        return self._k("idem", owner, key_sha256)

    def rate(self, name: str) -> str:
        return self._k("rate", name)

    def webhooks_due(self) -> str:
        return self._k("webhooks", "due")

    def webhook(self, job_id: str) -> str:
        return self._k("webhook", job_id)

    def source(self, job_id: str) -> str:
        return self._k("source", job_id)

    def recons(self, job_id: str) -> str:
        return self._k("recons", job_id)

    def recon(self, recon_id: str) -> str:
        return self._k("recon", recon_id)

    def catalog(self, worker: str) -> str:
        return self._k("catalog", worker)

    def catalogs(self) -> str:
        return self._k("catalogs")

    def labels(self, sha256: str) -> str:
        return self._k("labels", sha256)

    def predict_image(self, request_id: str) -> str:
        return self._k("predict", request_id, "image")

    def predict_reply(self, request_id: str) -> str:
        return self._k("predict", request_id, "reply")

    def parse(self, key: str | bytes) -> tuple[str, list[str]]:
        """(family, parts) of one of these keys: `{p}:index:alice:model:tiny` -> ("index",
        ["alice", "model", "tiny"]). ForeignKey for anything else (another prefix, RQ's keys)."""
        text = key.decode() if isinstance(key, bytes) else key
        head = self.prefix + ":"
        if not text.startswith(head):
            raise ForeignKey(f"{text!r} does not start with {head!r}")
        family, *parts = text[len(head):].split(":")
        if family not in FAMILIES:
            raise ForeignKey(f"{text!r}: unknown key family {family!r}")
        return family, parts
