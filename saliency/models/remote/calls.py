"""How requests to an endpoint are made: faults, bounded retries with backoff and jitter, and the
per-endpoint rate cap. The protocols (v2rest, v2grpc, v1rest) raise `Fault`; `Caller.call` retries
the transient ones (connect errors, timeouts, 429, 502, 503, 504, gRPC UNAVAILABLE) and turns the
last into the job's error, naming the endpoint and what it answered."""
from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from saliency.errors import RemoteModelError
from saliency.models.remote.config import Endpoint

T = TypeVar("T")
RETRY_STATUSES = frozenset({429, 502, 503, 504})
MAX_WAIT = 30.0  # the longest pause between two attempts, whatever Retry-After says


class Fault(Exception):
    """One attempt failed; `transient` ones are worth another try."""

    def __init__(self, message: str, transient: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.transient = transient
        self.retry_after = retry_after


class RateLimit:
    """At most `per_s` images per second, spread evenly: each request takes its images' share of
    the schedule and waits for its slot. Shared by every thread of one endpoint."""

    def __init__(self, per_s: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.per_s, self.clock, self.sleep = per_s, clock, sleep
        self._next = float("-inf")
        self._lock = threading.Lock()

    def acquire(self, images: int) -> float:
        """Wait for the slot of `images` images; returns the seconds waited."""
        with self._lock:
            now = self.clock()
            start = max(self._next, now)
            self._next = start + images / self.per_s
        wait = start - now
        if wait > 0:
            self.sleep(wait)
        return max(wait, 0.0)


@dataclass
class Stats:
    """Counters of one endpoint in this process (benchmarks and tests read them)."""

    requests: int = 0  # requests answered usably
    attempts: int = 0  # every attempt, failed ones included
    retries: int = 0
    images: int = 0


class Caller:
    """Runs one request with the endpoint's retry policy and rate cap."""

    def __init__(self, ep: Endpoint, sleep: Callable[[float], None] = time.sleep) -> None:
        self.ep = ep
        self.sleep = sleep
        self.limit = RateLimit(ep.max_queries_per_s) if ep.max_queries_per_s else None
        self.stats = Stats()
        self._lock = threading.Lock()

    def call(self, what: str, attempt: Callable[[], T], images: int = 0) -> T:
        """`attempt()` until it succeeds, a fault is not transient, or the retries are spent."""
        if self.limit is not None and images:
            self.limit.acquire(images)
        for tries in range(1, self.ep.retries + 2):
            self._count(attempts=1)
            try:
                result = attempt()
            except Fault as fault:
                if not fault.transient or tries > self.ep.retries:
                    raise self.error(what, fault, tries) from None
                self._count(retries=1)
                self.sleep(self.pause(tries, fault.retry_after))
                continue
            self._count(requests=1, images=images)
            return result
        raise AssertionError("unreachable")

    def pause(self, tries: int, retry_after: float | None) -> float:
        """Exponential backoff with full jitter in [0.5, 1.5) x base; Retry-After when longer."""
        base = self.ep.backoff * 2 ** (tries - 1) * random.uniform(0.5, 1.5)
        return min(MAX_WAIT, max(base, retry_after or 0.0))

    def error(self, what: str, fault: Fault, tries: int) -> RemoteModelError:
        times = f" (after {tries} attempts)" if tries > 1 else ""
        return RemoteModelError(f"model {self.ep.model!r} served at {self.ep.where} ({self.ep.protocol}): "
                                f"{what} failed{times}: {fault}")

    def _count(self, **deltas: int) -> None:
        with self._lock:
            for name, delta in deltas.items():
                setattr(self.stats, name, getattr(self.stats, name) + delta)
