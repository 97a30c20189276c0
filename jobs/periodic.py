"""A daemon thread beside the job loop that works until stopped (janitor, webhooks, job lease)."""
from __future__ import annotations

import threading


class Periodic(threading.Thread):
    """Subclasses write `run` as a loop on `self.stopped.wait(seconds)`, which returns True once
    `stop()` is called, so a stop never waits out a whole interval."""

    def __init__(self, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.stopped = threading.Event()

    def stop(self) -> None:
        self.stopped.set()
