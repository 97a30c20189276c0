"""The `metrics` option of POST /explain, against the real Redis, worker and API processes."""
from __future__ import annotations

import httpx
import pytest

from tests.support.stack import FAST, QUEUE, Service, submit, submit_ok, wait_status

# The tiny model's input is 32 x 32: step ceil(1024 / 224) = 5 pixels, 205 steps, 206 queries.
QUERIES_AT_32PX = 206


@pytest.mark.parametrize("metrics", ["deletion, insertion", '["deletion", "insertion"]'])
def test_metrics_are_computed_after_the_map(client: httpx.Client, running_worker: Service, upload,
                                            metrics: str) -> None:
    job_id = submit_ok(client, upload.png, model="tiny", params=FAST, metrics=metrics)
    assert client.get(f"/jobs/{job_id}").json()["metrics"] == ["deletion", "insertion"]
    done = wait_status(client, job_id, "finished", "failed", timeout=60)
    assert done["status"] == "finished", done["error"]
    result = done["result"]
    assert result["queries"] == FAST["queries"]  # the method's own count, metrics apart
    assert list(result["metrics"]) == ["deletion", "insertion"]
    for name, value in result["metrics"].items():
        assert value["queries"] == QUERIES_AT_32PX, name
        assert 0 <= value["auc"] <= 1, name


def test_no_metrics_unless_asked(client: httpx.Client, running_worker: Service, upload) -> None:
    job_id = submit_ok(client, upload.png, model="tiny", params=FAST)
    done = wait_status(client, job_id, "finished", "failed", timeout=60)
    assert done["metrics"] == [] and done["result"]["metrics"] is None


@pytest.mark.parametrize("metrics", ["deletion,pointing_game", '["deletion"', "[1]"])
def test_bad_metrics_name_the_field(client: httpx.Client, service: Service, upload, metrics: str) -> None:
    keys, queued = set(service.redis.keys("saliency:*")), service.redis.llen(f"rq:queue:{QUEUE}")
    r = submit(client, upload.png, model="tiny", metrics=metrics)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["field"] == "metrics" and body["code"] == "invalid_metrics" and body["detail"]
    # nothing added, nothing queued (older keys may expire meanwhile)
    assert not set(service.redis.keys("saliency:*")) - keys and service.redis.llen(f"rq:queue:{QUEUE}") == queued
