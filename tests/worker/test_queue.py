"""Cancel, stop and worker restarts, with the real worker process."""
from __future__ import annotations

import httpx

from tests.support.stack import FAST, Gate, Service, submit_ok, wait_status, wait_until


def test_stop_a_running_job_and_cancel_a_queued_one(client: httpx.Client, running_worker: Service,
                                                     upload, gate: Gate) -> None:
    long_job = submit_ok(client, upload.png, model="tiny", method="gate", params=gate.params())

    def running_with_progress() -> dict | None:
        body = client.get(f"/jobs/{long_job}").json()
        return body if body["status"] == "started" and body["progress"] > 0 else None

    running = wait_until(running_with_progress, 60, "the long job to report progress")
    assert 0 < running["progress"] < 1 and running["started_at"] and running["ended_at"] is None
    assert client.get(f"/jobs/{long_job}/saliency.npy").status_code == 409

    # The single worker is busy, so this one waits in the queue.
    waiting = submit_ok(client, upload.png, model="tiny", params=FAST)
    assert client.get(f"/jobs/{waiting}").json()["status"] == "queued"
    r = client.delete(f"/jobs/{waiting}")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "canceled" and r.json()["ended_at"]

    r = client.delete(f"/jobs/{long_job}")
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "started" and r.json()["cancel_requested"] is True
    stopped = wait_status(client, long_job, "canceled", "finished", "failed", timeout=30)
    assert stopped["status"] == "canceled"
    assert stopped["error"] is None and stopped["ended_at"]
    assert stopped["progress"] < 1
    assert client.get(f"/jobs/{long_job}/overlay.png").status_code == 409
    # Canceling again is harmless; the queued one never ran.
    assert client.delete(f"/jobs/{long_job}").status_code == 200
    assert client.get(f"/jobs/{waiting}").json()["status"] == "canceled"

    # The worker goes on with the next job; a finished job cannot be canceled.
    after = submit_ok(client, upload.png, model="tiny", params=FAST)
    assert wait_status(client, after, "finished", "failed")["status"] == "finished"
    conflict = client.delete(f"/jobs/{after}")
    assert conflict.status_code == 409 and conflict.json()["code"] == "conflict"
    assert client.get(f"/jobs/{waiting}").json()["status"] == "canceled"


def test_a_restarted_worker_picks_up_the_queue(client: httpx.Client, running_worker: Service, upload) -> None:
    service = running_worker
    service.stop_worker()
    try:
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["workers"] == 0

        first = submit_ok(client, upload.png, model="tiny", params=FAST)
        canceled = submit_ok(client, upload.png, model="tiny", params=FAST)
        expired = submit_ok(client, upload.png, model="tiny", params=FAST)
        last = submit_ok(client, upload.png, model="tiny", params=FAST)
        assert client.delete(f"/jobs/{canceled}").json()["status"] == "canceled"
        service.redis.delete(f"saliency:upload:{expired}")  # as if upload_ttl had run out
        for job_id in (first, expired, last):
            assert client.get(f"/jobs/{job_id}").json()["status"] == "queued"
    finally:
        service.start_worker()

    assert client.get("/readyz").status_code == 200
    assert wait_status(client, first, "finished", "failed")["status"] == "finished"
    lost = wait_status(client, expired, "finished", "failed")
    assert lost["status"] == "failed" and "expired" in lost["error"]
    assert wait_status(client, last, "finished", "failed")["status"] == "finished"
    assert client.get(f"/jobs/{canceled}").json()["status"] == "canceled"
