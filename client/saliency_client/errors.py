"""The client's exceptions. An API error carries the API's error JSON (app.schemas.ErrorBody)."""
from __future__ import annotations

from typing import Any

import httpx


class ClientError(Exception):
    """Base class: the message is meant for the user."""


class Unreachable(ClientError):
    """No HTTP answer at all: wrong URL, service down, network."""


class APIError(ClientError):
    """The API answered an error status; `code` is its stable reason (e.g. unknown_model)."""

    def __init__(self, status: int, detail: str, code: str | None, field: str | None,
                 body: Any, retry_after: float | None = None) -> None:
        where = f" ({field})" if field else ""
        super().__init__(f"HTTP {status} {code or 'error'}{where}: {detail}")
        self.status = status
        self.detail = detail
        self.code = code
        self.field = field
        self.body = body  # the whole JSON (or text) the API answered
        self.retry_after = retry_after

    @classmethod
    def of(cls, response: httpx.Response) -> "APIError":
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text
        fields = body if isinstance(body, dict) else {}
        retry = response.headers.get("retry-after")
        return cls(response.status_code, str(fields.get("detail", body or response.reason_phrase)),
                   fields.get("code"), fields.get("field"), body,
                   float(retry) if retry and retry.replace(".", "", 1).isdigit() else None)


class WaitTimeout(ClientError):
    """wait() gave up; `job` is the last state seen."""

    def __init__(self, job_id: str, seconds: float, job: Any) -> None:
        super().__init__(f"job {job_id} is still {getattr(job, 'status', '?')} after {seconds:g} s")
        self.job_id = job_id
        self.job = job


class JobNotFinished(ClientError):
    """fetch() of a job that failed, was canceled, or has not finished yet."""

    def __init__(self, job: Any) -> None:
        why = f": {job.error}" if getattr(job, "error", None) else ""
        super().__init__(f"job {job.job_id} is {job.status}{why}; only a finished job has results")
        self.job = job
