"""DELETE /jobs/{id} removes a final job's data before its TTL (privacy); POST /jobs/{id}/cancel
stops it. Against the real stack: nothing that names the job is left in Redis but its id record."""
from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from redis import Redis

from tests.support.stack import FAST, RECON, Gate, Service, submit, submit_ok, wait_status, wait_until


class _Ok(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


def mentions(redis: Redis, needle: str) -> set[str]:
    """Every key whose name, or whose set, sorted-set or list members, contain `needle`."""
    found = set()
    for raw in redis.scan_iter(count=1000):
        key = raw.decode()
        kind = redis.type(raw).decode()
        members: list[bytes] = []
        if kind == "zset":
            members = redis.zrange(raw, 0, -1)
        elif kind == "set":
            members = list(redis.smembers(raw))
        elif kind == "list":
            members = redis.lrange(raw, 0, -1)
        if needle in key or any(needle.encode() in m for m in members):
            found.add(key)
    return found


def test_delete_removes_every_trace_of_a_final_job(client: httpx.Client, running_worker: Service, upload,
                                                   gen_model: str, receiver: str) -> None:
    r = submit(client, upload.png, model=gen_model, params=FAST, reconstruct="true",
               reconstruct_params=json.dumps(RECON), callback_url=receiver)
    assert r.status_code == 202, r.text
    job_id, recon_url = r.json()["job_id"], r.json()["reconstruction"]
    assert r.json()["links"]["cancel"] == f"/jobs/{job_id}/cancel"
    assert wait_status(client, job_id, "finished", "failed")["status"] == "finished"
    wait_until(lambda: client.get(recon_url).json()["status"] == "finished", 120, "the reconstruction")
    wait_until(lambda: client.get(f"/jobs/{job_id}").json()["webhook"]["state"] == "delivered", 30,
               "the webhook")
    recon_id = recon_url.rsplit("/", 1)[1]
    redis = running_worker.redis
    assert len(mentions(redis, job_id)) > 5 and mentions(redis, recon_id)  # upload gone, results kept

    r = client.delete(f"/jobs/{job_id}")
    assert r.status_code == 204 and r.content == b"", r.text
    # Only the id record is left (it holds the owner, no data), so the id answers 410, not 404.
    assert mentions(redis, job_id) == {f"saliency:job:{job_id}"}
    assert mentions(redis, recon_id) == set()
    for path in ("", "/saliency.npy", "/overlay.png", "/reconstructions"):
        gone = client.get(f"/jobs/{job_id}{path}")
        assert gone.status_code == 410 and gone.json()["code"] == "expired", (path, gone.text)
    assert job_id not in [j["job_id"] for j in client.get("/jobs", params={"limit": 100}).json()["jobs"]]
    assert client.delete(f"/jobs/{job_id}").status_code == 410  # already gone


def test_a_job_must_be_final_to_be_deleted(client: httpx.Client, running_worker: Service, upload,
                                           gate: Gate) -> None:
    running = submit_ok(client, upload.png, model="tiny", method="gate", params=gate.params())
    wait_status(client, running, "started")
    waiting = submit_ok(client, upload.png, model="tiny", params=FAST)
    for job_id in (running, waiting):
        r = client.delete(f"/jobs/{job_id}")
        assert r.status_code == 409 and r.json()["code"] == "conflict", r.text
        assert f"/jobs/{job_id}/cancel" in r.json()["detail"]
    assert client.get(f"/jobs/{waiting}").json()["status"] == "queued"  # a refused DELETE changes nothing
    assert client.post(f"/jobs/{waiting}/cancel").status_code == 200
    assert client.post(f"/jobs/{running}/cancel").status_code == 202
    wait_status(client, running, "canceled")
    for job_id in (running, waiting):
        assert client.delete(f"/jobs/{job_id}").status_code == 204
        assert client.get(f"/jobs/{job_id}").status_code == 410
