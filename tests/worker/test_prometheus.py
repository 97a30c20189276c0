"""GET /metrics of the API and the worker's own metrics port, parsed as Prometheus text, around
real jobs; and the Grafana dashboard's queries checked against what the service exports."""
from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.stack import FAST, QUEUE, Gate, Service, submit_ok, wait_status, wait_until

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "saliency.json"
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",),
            "info": ("_info",), "summary": ("_sum", "_count", "")}


def scrape(url: str) -> dict:
    r = httpx.get(url, timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return {f.name: f for f in text_string_to_metric_families(r.text)}


def worker_url(service: Service) -> str:
    return f"http://127.0.0.1:{service.env['SALIENCY_WORKER_METRICS_PORT']}/metrics"


def value(families: dict, sample: str, **labels: str) -> float:
    """Sum of the samples named `sample` whose labels include `labels` (0 when none)."""
    family = families.get(re.sub(r"(_total|_count|_sum|_bucket)$", "", sample))
    if family is None:
        return 0.0
    return sum(s.value for s in family.samples
               if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()))


def test_counters_move_after_real_jobs(client: httpx.Client, running_worker: Service, upload,
                                       gate: Gate) -> None:
    api0, w0 = scrape(f"{running_worker.url}/metrics"), scrape(worker_url(running_worker))
    tiny, gated = {"model": "tiny", "method": "oise"}, {"model": "tiny", "method": "gate"}

    done = wait_status(client, submit_ok(client, upload.png, model="tiny", params=FAST), "finished", "failed")
    assert done["status"] == "finished", done["error"]
    failed = wait_status(client, submit_ok(client, upload.png, model="broken", params=FAST), "finished", "failed")
    assert failed["status"] == "failed"
    # One running (and then canceled in its worker), one canceled while it waits behind it.
    slow = submit_ok(client, upload.png, model="tiny", method="gate", params=gate.params())
    wait_status(client, slow, "started")
    waiting = submit_ok(client, upload.png, model="tiny", params=FAST)
    depth = value(scrape(f"{running_worker.url}/metrics"), "saliency_queue_depth")
    assert client.delete(f"/jobs/{waiting}").status_code == 200
    assert client.delete(f"/jobs/{slow}").status_code == 202
    wait_status(client, slow, "canceled")

    api1, w1 = scrape(f"{running_worker.url}/metrics"), scrape(worker_url(running_worker))
    delta = lambda a, b, name, **labels: value(b, name, **labels) - value(a, name, **labels)  # noqa: E731
    assert depth >= 1
    assert delta(api0, api1, "saliency_jobs_submitted_total", **tiny) == 2
    assert delta(api0, api1, "saliency_jobs_submitted_total", **gated) == 1
    assert delta(api0, api1, "saliency_jobs_submitted_total", model="broken", method="oise") == 1
    assert delta(api0, api1, "saliency_jobs_canceled_total", **tiny) == 1  # the queued one, by the API
    assert delta(w0, w1, "saliency_jobs_canceled_total", **gated) == 1  # the running one, by its worker
    assert delta(w0, w1, "saliency_jobs_finished_total", **tiny) == 1
    assert delta(w0, w1, "saliency_jobs_failed_total", model="broken", method="oise") == 1
    assert delta(w0, w1, "saliency_model_queries_total", **tiny) == done["result"]["queries"]
    assert delta(w0, w1, "saliency_job_duration_seconds_count", **tiny) == 1  # finished
    assert delta(w0, w1, "saliency_job_duration_seconds_count", **gated) == 1  # canceled
    assert delta(w0, w1, "saliency_job_duration_seconds_sum", **tiny) > 0
    assert delta(w0, w1, "saliency_job_queue_wait_seconds_count", **tiny) == 1
    assert delta(w0, w1, "saliency_job_queue_wait_seconds_count", **gated) == 1
    assert value(api1, "saliency_redis_up") == 1
    assert value(api1, "saliency_workers") >= 1
    assert value(api1, "saliency_queue_depth") == 0
    assert value(w1, "saliency_worker_busy") == 0
    assert value(w1, "saliency_worker_info", device="cpu") == 1
    # The GPU family is declared on every worker; a CPU worker gives it no samples.
    assert w1["saliency_gpu_memory_bytes"].type == "gauge" and w1["saliency_gpu_memory_bytes"].samples == []


def test_histogram_buckets_are_cumulative(client: httpx.Client, running_worker: Service, upload) -> None:
    wait_status(client, submit_ok(client, upload.png, model="tiny", params=FAST), "finished")
    family = scrape(worker_url(running_worker))["saliency_job_duration_seconds"]
    buckets = [(float(s.labels["le"]), s.value) for s in family.samples
               if s.name.endswith("_bucket") and s.labels["model"] == "tiny" and s.labels["method"] == "oise"]
    counts = [v for _, v in sorted(buckets)]
    assert counts == sorted(counts) and counts[-1] >= 1
    assert sorted(buckets)[-1][0] == float("inf")


def exported_names(*scrapes: dict) -> set[str]:
    """Every sample name the families declare, by type (a counter `x` is queried as x_total)."""
    names = set()
    for families in scrapes:
        for family in families.values():
            names.update(family.name + s for s in SUFFIXES.get(family.type, ("",)))
    return names


def test_dashboard_queries_use_exported_metrics(client: httpx.Client, running_worker: Service, upload) -> None:
    wait_status(client, submit_ok(client, upload.png, model="tiny", params=FAST), "finished")
    exported = exported_names(scrape(f"{running_worker.url}/metrics"), scrape(worker_url(running_worker)))
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert len(exprs) >= 10
    used = {name for e in exprs for name in re.findall(r"\bsaliency_[a-z0-9_]+", e)}
    assert used - exported == set(), f"the dashboard queries metrics nobody exports: {used - exported}"
    for needed in ("saliency_jobs_submitted_total", "saliency_queue_depth", "saliency_workers",
                   "saliency_model_queries_total", "saliency_job_duration_seconds_bucket",
                   "saliency_job_queue_wait_seconds_bucket", "saliency_gpu_memory_bytes"):
        assert needed in used, needed
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_worker_metrics_port_is_its_own(running_worker: Service) -> None:
    """The worker serves on its own port, not through the API: one scrape target per worker."""
    families = wait_until(lambda: scrape(worker_url(running_worker)), 10, "the worker's metrics port")
    assert "saliency_jobs_finished" in families and "saliency_jobs_submitted" not in families


def test_metrics_need_a_key_when_keys_are_on(running_worker: Service) -> None:
    """/metrics is behind the API keys like every route but the health checks."""
    import secrets

    from fastapi.testclient import TestClient

    from app.main import create_app
    from jobs.settings import Settings

    secret = secrets.token_urlsafe(24)
    settings = Settings(redis_url=running_worker.env["SALIENCY_REDIS_URL"], queue=QUEUE, auth=True,
                        api_keys=f"prometheus:{secret}")
    with TestClient(create_app(settings)) as app:
        assert app.get("/metrics").status_code == 401
        r = app.get("/metrics", headers={"Authorization": f"Bearer {secret}"})
        assert r.status_code == 200
        families = {f.name: f for f in text_string_to_metric_families(r.text)}
        assert families["saliency_redis_up"].samples[0].value == 1
        assert families["saliency_workers"].samples[0].value >= 1
