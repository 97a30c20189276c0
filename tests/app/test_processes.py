"""`python -m app --workers N`: processes sharing one port and one /metrics that sums them all
(app.prom, the Prometheus client's multiprocess mode), against a real Redis."""
from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from app.prom import MULTIPROC_ENV, ApiMetrics
from jobs.catalog import Catalog
from jobs.settings import Settings
from tests.support.processes import ROOT, Proc, free_port, wait_until
from tests.support.stack import RedisServer, wait_healthy

COUNT = """
import sys
from redis import Redis
from app.prom import ApiMetrics
from jobs.catalog import Catalog
from jobs.settings import Settings
settings = Settings(redis_url=sys.argv[1])
redis = Redis.from_url(settings.redis_url)
metrics = ApiMetrics(redis, settings, Catalog(redis, settings))
for _ in range(int(sys.argv[2])):
    metrics.submitted("tiny", "oise")
metrics.answered("POST", "/explain", 202, 0.01)
"""


def samples(text: str, name: str, **labels: str) -> list[float]:
    return [s.value for f in text_string_to_metric_families(text) for s in f.samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]


def test_a_scrape_sums_the_counts_of_every_process(redis_server: RedisServer, tmp_path: Path) -> None:
    # Which process answers an HTTP request is the kernel's choice, so the sum is checked with
    # two processes whose counts are known; a third one's render is the scrape.
    env = {"PATH": "", MULTIPROC_ENV: str(tmp_path)}
    for n in (3, 4):
        subprocess.run([sys.executable, "-c", COUNT, redis_server.url, str(n)], env=env, cwd=ROOT, check=True)
    settings = Settings(redis_url=redis_server.url)
    redis = redis_server.client()
    text = ApiMetrics(redis, settings, Catalog(redis, settings), multiproc_dir=str(tmp_path)).render().decode()

    assert samples(text, "saliency_jobs_submitted_total", model="tiny", method="oise") == [7.0]
    assert samples(text, "http_requests_total", method="POST", route="/explain", status="202") == [2.0]
    assert samples(text, "http_request_duration_seconds_count", route="/explain") == [2.0]
    # Read at scrape time, so once, not once per process.
    assert samples(text, "saliency_build_info") == [1.0]
    assert samples(text, "saliency_redis_up") == [1.0]


def test_two_processes_serve_one_port_and_one_metrics(service_env: dict[str, str], tmp_path: Path) -> None:
    port = free_port()
    env = dict(service_env, TMPDIR=str(tmp_path))  # where `python -m app` makes its metrics directory
    api = Proc("api-2", [sys.executable, "-m", "app", "--port", str(port), "--workers", "2"], env,
               tmp_path / "api.log")
    url = f"http://127.0.0.1:{port}"
    api.start()
    try:
        wait_healthy(api, url)
        # Each process writes its counter file when it builds its app.
        wait_until(lambda: len(list(tmp_path.glob("saliency-api-metrics-*/counter_*.db"))) == 2, 60,
                   "both API processes to start")
        route = {"method": "GET", "route": "/healthz", "status": "200"}
        before = sum(samples(httpx.get(f"{url}/metrics").text, "http_requests_total", **route))
        for _ in range(30):  # a new connection each: either process may take it
            assert httpx.get(f"{url}/healthz", headers={"Connection": "close"}).status_code == 200
        # A request is counted once its answer is sent: poll until the last one lands.
        counted = lambda: sum(samples(httpx.get(f"{url}/metrics").text, "http_requests_total", **route))  # noqa: E731
        wait_until(lambda: counted() - before >= 30, 30, "the 30 requests to be counted")
        assert counted() - before == 30
    finally:
        assert api.stop(signal.SIGINT) == 0, api.tail()
    assert not list(tmp_path.glob("saliency-api-metrics-*")), "the metrics directory outlived the API"


def test_a_configuration_error_stops_all_processes_at_once(service_env: dict[str, str], tmp_path: Path) -> None:
    # uvicorn restarts a process that dies while it starts; the error must end the command instead.
    env = dict(service_env, SALIENCY_AUTH="on", SALIENCY_API_KEYS="")
    api = Proc("api-bad", [sys.executable, "-m", "app", "--port", str(free_port()), "--workers", "2"], env,
               tmp_path / "api.log")
    api.start()
    assert api.proc is not None
    assert api.proc.wait(60) != 0
    assert "SALIENCY_API_KEYS" in api.tail()
    assert api.tail().count("Traceback") == 1
