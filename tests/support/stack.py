"""The service test stack, as pytest fixtures: a real redis-server, real worker and API processes,
real HTTP. Loaded for every test from tests/conftest.py (`pytest_plugins`).

Everything is session-scoped and started once: a redis-server on a free port with its data in a
temp dir, the tiny model trained and exported to a models.toml, one `python -m worker` and one
`python -m app` as subprocesses. The processes share only what a deployment would give them
(SALIENCY_* variables); both load the test-only methods of tests/support/methods.py as a plugin.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image
from redis import Redis

from tests.support.tiny import tiny_onnx_entry
from tests.support.processes import ROOT, Proc, free_port, start_redis, wait_until  # noqa: F401 (for tests)

QUEUE = "saliency-test"
MAX_UPLOAD = 1_000_000  # bytes; small so that the 413 tests stay cheap
FAST = {"queries": 100, "chains": 20, "grid": 4}  # a job on the tiny model that takes well under a second
WEBHOOK_SECRET = "test-webhook-secret"
PLUGINS = "tests.support.methods"  # gate, sleepy, oom
RECON = {"variations": 4, "steps": 5, "lr": 0.05}  # a reconstruction that takes a second


@dataclass
class RedisServer:
    url: str
    proc: Proc

    def client(self) -> Redis:
        return Redis.from_url(self.url)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    port = free_port()
    proc = start_redis(tmp_path_factory.mktemp("redis"), port, dict(os.environ))
    yield RedisServer(f"redis://127.0.0.1:{port}/0", proc)
    proc.stop()


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def tiny_models_file(tiny_toml: Path, models_dir: Path) -> Path:
    """models.toml with the tiny CNN and four more entries on its weights and labels:
    `tiny_gen` declares a small untrained DCGAN, so reconstructions run; `broken` names a file
    that exists but is no network, so it is listed and fails in the worker; `missing` names a file
    that does not exist, so the catalog says it cannot run and submissions are refused;
    `tiny_onnx` is the same network as a user's ONNX file (black-box methods only)."""
    from saliency.reconstruction.dcgan import GanConfig, build, save_checkpoint

    for path in tiny_toml.parent.iterdir():
        shutil.copy(path, models_dir)
    cfg = GanConfig(32, nz=16, width=8)
    save_checkpoint(models_dir / "tiny_gan.pt", cfg, *build(cfg))
    (models_dir / "broken.pt").write_bytes(b"not a network")
    common = 'labels = "tiny_labels.txt"\ninput_size = [32, 32]\nmean = [0.5, 0.5, 0.5]\nstd = [0.25, 0.25, 0.25]\n'
    toml = models_dir / tiny_toml.name
    toml.write_text(toml.read_text()
                    + f'\n[models.tiny_gen]\npath = "tiny.pt2"\n{common}generator = "tiny_gan.pt"\n'
                    + f'\n[models.broken]\npath = "broken.pt"\n{common}'
                    + f'\n[models.missing]\npath = "missing.pt"\n{common}'
                    + tiny_onnx_entry())
    return toml


@pytest.fixture(scope="session")
def gen_model(tiny_models_file: Path) -> str:
    """The tiny CNN with a generator (see tiny_models_file)."""
    return "tiny_gen"


@pytest.fixture(scope="session")
def service_env(redis_server: RedisServer, models_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SALIENCY_") and k != "REDIS_URL"}
    env.update({
        "SALIENCY_REDIS_URL": redis_server.url,
        "SALIENCY_QUEUE": QUEUE,
        "SALIENCY_MODELS_FILE": str(models_dir / "models.toml"),  # written by tiny_models_file
        "SALIENCY_DEVICE": "cpu",
        "SALIENCY_PRELOAD": "tiny",
        "SALIENCY_DEFAULT_MODEL": "tiny",  # requests without a model (schemathesis's) stay cheap
        "SALIENCY_MAX_UPLOAD_BYTES": str(MAX_UPLOAD),
        "SALIENCY_PROGRESS_INTERVAL": "0.2",
        "SALIENCY_AUTH": "off",  # API keys have their own tests (test_service_security.py)
        # Webhooks (test_service_webhooks.py): the receiver is on loopback, retries come quickly.
        "SALIENCY_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "SALIENCY_WEBHOOK_ALLOW_PRIVATE": "true",
        "SALIENCY_WEBHOOK_BACKOFF": "0.2",
        "SALIENCY_WEBHOOK_ATTEMPTS": "3",
        "SALIENCY_WORKER_METRICS_PORT": str(free_port()),  # tests/worker/test_metrics.py scrapes it
        "SALIENCY_PLUGINS": PLUGINS,
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
    # The API needs no model file (workers publish what they run), so it starts while the model
    # trains; the worker preloads the model, so it starts after.
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


class Gate:
    """Release files of the `gate` test method: `params()` for a job that holds at `progress`
    until `release()`; releasing lets it finish. Every gate is released when the test ends."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.opened: list[Path] = []
        self._n = count()

    def params(self, progress: float = 0.5) -> dict[str, Any]:
        path = self.folder / f"gate-{next(self._n)}"
        self.opened.append(path)
        return {"release": str(path), "progress": progress}

    def release(self, params: dict[str, Any] | None = None) -> None:
        for path in [Path(params["release"])] if params else self.opened:
            path.touch()


@pytest.fixture
def gate(tmp_path: Path) -> Iterator[Gate]:
    g = Gate(tmp_path)
    try:
        yield g
    finally:
        g.release()


def enqueue(redis: Redis, settings: Any, png: bytes, owner: str = "", model: str = "tiny", method: str = "oise",
            params: dict[str, Any] | None = None, width: int = 8, height: int = 8) -> str:
    """Queue a job straight through the core's submission use case (no API, no checks); its id."""
    from jobs.submission import Submitter
    from jobs.validation import Options, Upload

    answer, _ = Submitter(redis, settings).explain(Upload(png, width, height),
                                                   Options(model, method, None, params or {}, []), owner, False)
    return answer.job_id


def publish_catalog(redis: Redis, settings: Any, worker: str = "test-publisher") -> None:
    """Publish what a worker would (from $SALIENCY_MODELS_FILE), under `settings`' key prefix: for
    APIs built in a test with their own prefix, whose catalog no real worker fills."""
    from jobs.catalog import publish
    from worker.catalog import describe_all

    infos, labels = describe_all()
    publish(redis, settings, worker, infos, labels)
