"""A synchronous client of the saliency service (httpx): submit, watch, fetch, batches, listing.

    with Client("http://127.0.0.1:8000", api_key=...) as c:
        job = c.wait(c.submit("cat.jpg", model="efficientnet_lite0", params={"queries": 500}))
        c.fetch(job, "out/")   # saliency.npy, saliency.png, overlay.png, result.json
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import httpx
from pydantic import BaseModel

from saliency_client.errors import APIError, JobNotFinished, Unreachable, WaitTimeout
from saliency_client.models import Batch, BatchSubmitted, Job, JobPage, Submitted

DEFAULT_URL = "http://127.0.0.1:8000"
ARTIFACTS = ("saliency.npy", "saliency.png", "overlay.png")
UNCERTAINTY = ("uncertainty.npy", "uncertainty.png")  # sampling methods (oise, rise) only
# Answers worth waiting out while polling: rate limited, Redis restarting, a proxy in between.
_TRANSIENT = frozenset({429, 502, 503, 504})

ImageInput = str | os.PathLike | bytes | BinaryIO
JobRef = str | Submitted | Job  # an id, or anything carrying `job_id`
M = TypeVar("M", bound=BaseModel)


def _job_id(job: JobRef) -> str:
    return job if isinstance(job, str) else job.job_id


def _batch_id(batch: str | BatchSubmitted | Batch) -> str:
    return batch if isinstance(batch, str) else batch.batch_id


def _image_part(image: ImageInput, name: str = "image") -> tuple[str, bytes, str]:
    if isinstance(image, bytes):
        return (name, image, "application/octet-stream")
    if isinstance(image, (str, os.PathLike)):
        path = Path(image)
        return (path.name, path.read_bytes(), "application/octet-stream")
    return (Path(getattr(image, "name", name)).name, image.read(), "application/octet-stream")


def _form(model: str | None, method: str | None, target: str | int | None, params: dict[str, Any] | None,
          metrics: Sequence[str] | str | None) -> dict[str, str]:
    """The form fields POST /explain and POST /batches share; absent ones take the API's defaults."""
    fields = {"model": model, "method": method, "target": None if target is None else str(target),
              "params": None if params is None else json.dumps(params),
              "metrics": metrics if isinstance(metrics, str) or metrics is None else ",".join(metrics)}
    return {k: v for k, v in fields.items() if v is not None}


class Client:
    """`url` defaults to $SALIENCY_URL, then http://127.0.0.1:8000; `api_key` to $SALIENCY_API_KEY
    (sent as X-API-Key). `transport` is httpx's, e.g. for tests or retries."""

    def __init__(self, url: str | None = None, api_key: str | None = None, *, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.url = (url or os.environ.get("SALIENCY_URL") or DEFAULT_URL).rstrip("/")
        key = api_key if api_key is not None else os.environ.get("SALIENCY_API_KEY")
        headers = {"X-API-Key": key} if key else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout, transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # Plumbing ------------------------------------------------------------------------------
    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise Unreachable(f"cannot reach the saliency service at {self.url}: {exc}") from exc
        if response.status_code >= 400:
            raise APIError.of(response)
        return response

    def _get(self, path: str, model: type[M], **kwargs: Any) -> M:
        return model.model_validate(self._request("GET", path, **kwargs).json())

    # Jobs ----------------------------------------------------------------------------------
    def submit(self, image: ImageInput, *, model: str | None = None, method: str | None = None,
               target: str | int | None = None, params: dict[str, Any] | None = None,
               metrics: Sequence[str] | str | None = None) -> Submitted:
        """Queue one explanation (POST /explain). `target`: class index or label; None: top-1."""
        files = {"image": _image_part(image)}
        r = self._request("POST", "/explain", files=files, data=_form(model, method, target, params, metrics))
        return Submitted.model_validate(r.json())

    def status(self, job: JobRef) -> Job:
        return self._get(f"/jobs/{_job_id(job)}", Job)

    def cancel(self, job: JobRef) -> Job:
        """Cancel a queued job, or ask a running one to stop (POST /jobs/{id}/cancel)."""
        return Job.model_validate(self._request("POST", f"/jobs/{_job_id(job)}/cancel").json())

    def delete(self, job: JobRef) -> None:
        """Remove a final job's data now (DELETE /jobs/{id}); a queued or running one: APIError 409."""
        self._request("DELETE", f"/jobs/{_job_id(job)}")

    def wait(self, job: JobRef, *, timeout: float | None = None, poll: float = 0.5,
             progress: Callable[[Job], None] | None = None) -> Job:
        """Poll until the job is finished, failed or canceled, and return it (a failed job is
        returned, not raised). `progress` gets every state seen. Rate limits and a briefly
        unavailable service are waited out (Retry-After); WaitTimeout after `timeout` seconds."""
        job_id = _job_id(job)
        deadline = None if timeout is None else time.monotonic() + timeout
        last: Job | None = None
        while True:
            pause = poll
            try:
                last = self.status(job_id)
            except APIError as exc:
                if exc.status not in _TRANSIENT:
                    raise
                pause = max(poll, exc.retry_after or 0.0)
            else:
                if progress is not None:
                    progress(last)
                if last.done:
                    return last
            if deadline is not None and time.monotonic() + pause > deadline:
                raise WaitTimeout(job_id, timeout or 0.0, last)
            time.sleep(pause)

    def artifact(self, job: JobRef, name: str) -> bytes:
        """One of saliency.npy (numpy.save bytes), saliency.png, overlay.png; for oise and rise
        also uncertainty.npy, uncertainty.png."""
        if name not in ARTIFACTS + UNCERTAINTY:
            raise ValueError(f"artifact must be one of {', '.join(ARTIFACTS + UNCERTAINTY)}; got {name!r}")
        return self._request("GET", f"/jobs/{_job_id(job)}/{name}").content

    def fetch(self, job: JobRef, out_dir: str | os.PathLike) -> dict[str, Path]:
        """Write a finished job's saliency.npy, saliency.png, overlay.png, result.json (the job
        document) and, when its method made them, uncertainty.npy and uncertainty.png into
        `out_dir`; returns name -> path. JobNotFinished otherwise."""
        state = self.status(job)
        if state.status != "finished":
            raise JobNotFinished(state)
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        written = {}
        made = state.result.artifacts if state.result is not None else {}
        for name in ARTIFACTS + tuple(n for n in UNCERTAINTY if n in made):
            written[name] = out / name
            written[name].write_bytes(self.artifact(state, name))
        written["result.json"] = out / "result.json"
        written["result.json"].write_text(state.model_dump_json(indent=2) + "\n")
        return written

    def jobs(self, *, status: str | None = None, model: str | None = None, method: str | None = None,
             limit: int | None = None, cursor: str | None = None) -> JobPage:
        """One page of this key's jobs, newest first (GET /jobs)."""
        query = {"status": status, "model": model, "method": method, "limit": limit, "cursor": cursor}
        return self._get("/jobs", JobPage, params={k: v for k, v in query.items() if v is not None})

    def iter_jobs(self, *, status: str | None = None, model: str | None = None, method: str | None = None,
                  page_size: int = 50) -> Iterator[Job]:
        """Every matching job, following the cursor page after page."""
        cursor = None
        while True:
            page = self.jobs(status=status, model=model, method=method, limit=page_size, cursor=cursor)
            yield from page.jobs
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    # Batches -------------------------------------------------------------------------------
    def submit_batch(self, images: Sequence[ImageInput], *, model: str | None = None,
                     method: str | None = None, target: str | int | None = None,
                     params: dict[str, Any] | None = None,
                     metrics: Sequence[str] | str | None = None) -> BatchSubmitted:
        """One job per image, the same options for all (POST /batches); all are queued or none."""
        files = [("images", _image_part(image, f"image{i}")) for i, image in enumerate(images)]
        r = self._request("POST", "/batches", files=files, data=_form(model, method, target, params, metrics))
        return BatchSubmitted.model_validate(r.json())

    def batch(self, batch: str | BatchSubmitted | Batch) -> Batch:
        return self._get(f"/batches/{_batch_id(batch)}", Batch)

    def cancel_batch(self, batch: str | BatchSubmitted | Batch) -> Batch:
        """Cancel the batch's jobs that are not final (DELETE /batches/{id}); finished ones stay."""
        return Batch.model_validate(self._request("DELETE", f"/batches/{_batch_id(batch)}").json())
