"""One HTTP request to an endpoint, its failures as `Fault`s: shared by the v2 and v1 REST protocols."""
from __future__ import annotations

from typing import Any

import httpx

from saliency.models.remote.calls import RETRY_STATUSES, Fault
from saliency.models.remote.config import Endpoint

SNIPPET = 300  # characters of an error answer quoted in the job's error


class RestProtocol:
    """What the two REST protocols share: the endpoint, a pool, and the model's base URL."""

    api = ""  # "v1" or "v2": the path's first part

    def __init__(self, ep: Endpoint) -> None:
        self.ep = ep
        self.http = client(ep)
        version = f"/versions/{ep.version}" if ep.version else ""
        self.base = f"{ep.root}/{self.api}/models/{ep.served_name}{version}"

    def close(self) -> None:
        self.http.close()


def client(ep: Endpoint) -> httpx.Client:
    """A connection pool sized for the requests in flight, with the endpoint's timeouts and headers."""
    limits = httpx.Limits(max_connections=ep.in_flight, max_keepalive_connections=ep.in_flight)
    timeout = httpx.Timeout(ep.timeout, connect=ep.connect_timeout)
    return httpx.Client(limits=limits, timeout=timeout, headers=ep.headers(), follow_redirects=False)


def send(http: httpx.Client, ep: Endpoint, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """The answer of a 2xx; otherwise a Fault that says what happened (no header is ever quoted)."""
    try:
        response = http.request(method, url, **kwargs)
    except httpx.ConnectError as exc:
        raise Fault(f"could not connect to {ep.host} ({_reason(exc)})", transient=True) from None
    except httpx.TimeoutException as exc:
        limit = ep.connect_timeout if isinstance(exc, httpx.ConnectTimeout) else ep.timeout
        raise Fault(f"no answer from {ep.host} within {limit:g} s ({type(exc).__name__})", transient=True) from None
    except httpx.TransportError as exc:  # the connection dropped mid-answer, a malformed answer
        raise Fault(f"the connection to {ep.host} failed ({type(exc).__name__}: {_reason(exc)})",
                    transient=True) from None
    if response.status_code >= 400:
        raise Fault(f"{method} {_path(url)} answered {response.status_code} {response.reason_phrase}: "
                    f"{response.text[:SNIPPET].strip() or '(empty body)'}",
                    transient=response.status_code in RETRY_STATUSES,
                    retry_after=_retry_after(response.headers.get("retry-after")))
    return response


def json_of(response: httpx.Response, what: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise Fault(f"{what} is not JSON: {response.text[:SNIPPET]!r}", transient=False) from None


def _path(url: str) -> str:
    return httpx.URL(url).raw_path.decode(errors="replace")


def _reason(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:  # an HTTP date: the backoff decides
        return None
