"""Fixtures of the service tests: a real redis-server, real worker and API processes, real HTTP.

Loaded from tests/conftest.py through `pytest_plugins`. Everything is session-scoped and started
once: a redis-server on a free port with its data in a temp dir, the tiny model trained and
exported to a models.toml, one `python -m worker` and one `python -m app` as subprocesses. The
processes only share the environment a deployment would give them (SALIENCY_* variables).
"""
from __future__ import annotations

import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image
from redis import Redis

ROOT = Path(__file__).resolve().parents[1]
QUEUE = "saliency-test"
MAX_UPLOAD = 1_000_000  # bytes; small so that the 413 tests stay cheap
# Options that make a job on the tiny model take well under a second, and one that runs long.
FAST = {"queries": 100, "chains": 20, "grid": 4}
SLOW = {"queries": 200_000, "chains": 20, "grid": 4}
WEBHOOK_SECRET = "test-webhook-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """Poll `check` until it returns something truthy; fail the test after `timeout` seconds."""
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


@dataclass
class RedisServer:
    url: str
    proc: Proc

    def client(self) -> Redis:
        return Redis.from_url(self.url)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    from app.devserver import find_redis_server

    data = tmp_path_factory.mktemp("redis")
    port = free_port()
    proc = Proc("redis-server", [find_redis_server(), "--port", str(port), "--bind", "127.0.0.1",
                                 "--dir", str(data), "--save", "", "--appendonly", "no"],
                dict(os.environ), data / "redis.log")
    proc.start()
    server = RedisServer(f"redis://127.0.0.1:{port}/0", proc)
    client = server.client()

    def pong() -> bool:
        proc.ensure_alive()
        try:
            return bool(client.ping())
        except Exception:
            return False

    wait_until(pong, 15, "redis-server to answer")
    yield server
    proc.stop()


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def tiny_models_file(tiny_toml: Path, models_dir: Path) -> Path:
    """models.toml with the core tests' tiny CNN and `broken`, whose weights file is missing:
    it passes submit-time checks (its labels exist) and fails in the worker."""
    for path in tiny_toml.parent.iterdir():
        shutil.copy(path, models_dir)
    toml = models_dir / tiny_toml.name
    toml.write_text(toml.read_text() + (
        '\n[models.broken]\npath = "missing.pt"\nlabels = "tiny_labels.txt"\n'
        "input_size = [32, 32]\nmean = [0.5, 0.5, 0.5]\nstd = [0.25, 0.25, 0.25]\n"
    ))
    return toml


@pytest.fixture(scope="session")
def service_env(redis_server: RedisServer, models_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SALIENCY_") and k != "REDIS_URL"}
    env.update({
        "SALIENCY_REDIS_URL": redis_server.url,
        "SALIENCY_QUEUE": QUEUE,
        "SALIENCY_MODELS_FILE": str(models_dir / "models.toml"),  # written by tiny_models_file
        "SALIENCY_DEVICE": "cpu",
        "SALIENCY_PRELOAD": "tiny",
        "SALIENCY_MAX_UPLOAD_BYTES": str(MAX_UPLOAD),
        "SALIENCY_PROGRESS_INTERVAL": "0.2",
        "SALIENCY_AUTH": "off",  # API keys have their own tests (test_service_security.py)
        # Webhooks (test_service_webhooks.py): the receiver is on loopback, retries come quickly.
        "SALIENCY_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "SALIENCY_WEBHOOK_ALLOW_PRIVATE": "true",
        "SALIENCY_WEBHOOK_BACKOFF": "0.2",
        "SALIENCY_WEBHOOK_ATTEMPTS": "3",
        "SALIENCY_WORKER_METRICS_PORT": str(free_port()),  # test_service_metrics_prom.py scrapes it
        "PYTHONUNBUFFERED": "1",
    })
    return env


@dataclass
class Service:
    url: str
    redis: Redis
    api: Proc
    worker: Proc
    env: dict[str, str]
    logs: Path

    def workers_registered(self) -> int:
        from rq import Queue, SimpleWorker

        return SimpleWorker.count(connection=self.redis, queue=Queue(QUEUE, connection=self.redis))

    def start_worker(self) -> None:
        self.worker.start()
        self.wait_worker()

    def wait_worker(self) -> None:
        def ready() -> bool:
            self.worker.ensure_alive()
            return self.workers_registered() > 0
        wait_until(ready, 90, "the worker to register in Redis", interval=0.1)

    def stop_worker(self) -> None:
        """SIGTERM: RQ's warm shutdown; an idle worker deregisters and exits at once."""
        code = self.worker.stop(signal.SIGTERM, timeout=30)
        assert code == 0, f"worker exited with {code}:\n{self.worker.tail()}"
        assert self.workers_registered() == 0


def wait_healthy(api: Proc, url: str, what: str = "the API to answer /healthz") -> None:
    def healthy() -> bool:
        api.ensure_alive()
        try:
            return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False
    wait_until(healthy, 90, what, interval=0.1)


@contextmanager
def extra_api(name: str, env: dict[str, str], logs: Path) -> Iterator[str]:
    """One more API process (e.g. with other settings) beside the shared service; yields its URL."""
    port = free_port()
    api = Proc(name, [sys.executable, "-m", "app", "--port", str(port)], env, logs / "api.log")
    api.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(api, url, f"the {name} API")
        yield url
    finally:
        api.stop(signal.SIGINT)


@pytest.fixture(scope="session")
def service(redis_server: RedisServer, service_env: dict[str, str], request: pytest.FixtureRequest,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    logs = tmp_path_factory.mktemp("logs")
    port = free_port()
    worker = Proc("worker", [sys.executable, "-m", "worker"], service_env, logs / "worker.log")
    api = Proc("api", [sys.executable, "-m", "app", "--port", str(port)], service_env, logs / "api.log")
    svc = Service(f"http://127.0.0.1:{port}", redis_server.client(), api, worker, service_env, logs)
    # The API reads the models file per request, so it can start while the model trains; the
    # worker preloads the model, so it starts after.
    api.start()
    try:
        request.getfixturevalue("tiny_models_file")
        worker.start()
        wait_healthy(api, svc.url)
        svc.wait_worker()
        yield svc
    finally:
        worker.stop()
        api.stop(signal.SIGINT)


@pytest.fixture
def client(service: Service) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service.url, timeout=30) as c:
        yield c


@pytest.fixture
def running_worker(service: Service) -> Service:
    """The service with its worker up, restarted if an earlier test left it stopped."""
    if not service.worker.alive:
        service.start_worker()
    return service


@dataclass(frozen=True)
class Upload:
    png: bytes
    width: int
    height: int
    label: str  # the planted object's class


@pytest.fixture(scope="session")
def upload() -> Upload:
    """A non-square (40 x 56) planted-object picture, so the map must be resized back."""
    from saliency.data.planted import CLASSES, make_planted

    height, width = 40, 56
    for seed in range(100):
        data = make_planted(1, size=width, seed=seed, distractor_rate=0.0)
        if data.masks[0].any() and data.boxes[0][3] <= height:  # an object, inside the crop
            break
    pixels = (data.images[0].transpose(1, 2, 0)[:height] * 255).round().astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buf, format="PNG")
    return Upload(buf.getvalue(), width, height, CLASSES[int(data.labels[0])])


def submit(client: httpx.Client, png: bytes, **fields: Any) -> httpx.Response:
    """POST /explain; dict `params` are sent as JSON text like a form would."""
    import json

    data = {k: (json.dumps(v) if k == "params" and not isinstance(v, str) else str(v))
            for k, v in fields.items() if v is not None}
    return client.post("/explain", files={"image": ("upload.png", png, "image/png")}, data=data)


def submit_ok(client: httpx.Client, png: bytes, **fields: Any) -> str:
    r = submit(client, png, **fields)
    assert r.status_code == 202, r.text
    return r.json()["job_id"]


def wait_status(client: httpx.Client, job_id: str, *statuses: str, timeout: float = 60) -> dict:
    def check() -> dict | None:
        r = client.get(f"/jobs/{job_id}")
        assert r.status_code == 200, r.text
        body = r.json()
        return body if body["status"] in statuses else None
    return wait_until(check, timeout, f"job {job_id} to become {' or '.join(statuses)}")
