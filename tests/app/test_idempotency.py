"""Idempotency-Key on POST /explain, against the real API and Redis."""
from __future__ import annotations

import hashlib
import secrets
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.support.stack import FAST, QUEUE, Service, wait_status


def post(client: httpx.Client, png: bytes, key: str | None, **fields: str) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key is not None else {}
    data = {"model": "tiny", "params": '{"queries": 100, "chains": 20, "grid": 4}', **fields}
    return client.post("/explain", files={"image": ("a.png", png, "image/png")}, data=data, headers=headers)


def test_same_key_same_request_same_job(client: httpx.Client, running_worker: Service, upload) -> None:
    key = secrets.token_hex(8)
    first = post(client, upload.png, key)
    assert first.status_code == 202, first.text
    # The same request spelled differently: JSON spacing, and the default method named.
    again = post(client, upload.png, key, params='{"grid":4,"chains":20,"queries":100}', method="oise")
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Location"] == first.headers["Location"]
    assert wait_status(client, first.json()["job_id"], "finished")["params"]["queries"] == FAST["queries"]
    # Still the same job after it finished; a request without a key is a new job.
    assert post(client, upload.png, key).json()["job_id"] == first.json()["job_id"]
    fresh = post(client, upload.png, None)
    assert fresh.status_code == 202 and fresh.json()["job_id"] != first.json()["job_id"]
    wait_status(client, fresh.json()["job_id"], "finished")


def test_same_key_other_request_is_409(client: httpx.Client, running_worker: Service, upload) -> None:
    key = secrets.token_hex(8)
    first = post(client, upload.png, key)
    assert first.status_code == 202
    for changed in ({"params": '{"queries": 101, "chains": 20, "grid": 4}'}, {"target": "cross"},
                    {"callback_url": "http://127.0.0.1:9/x"}):
        r = post(client, upload.png, key, **changed)
        assert r.status_code == 409, (changed, r.text)
        assert r.json()["code"] == "idempotency_conflict" and "different request" in r.json()["detail"]
    assert post(client, _other_png(), key).status_code == 409  # another image
    wait_status(client, first.json()["job_id"], "finished")


def test_concurrent_requests_make_one_job(client: httpx.Client, running_worker: Service, upload) -> None:
    key = secrets.token_hex(8)
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: _post_alone(running_worker.url, upload.png, key), range(8)))
    codes = sorted(r.status_code for r in answers)
    assert codes == [200] * 7 + [202], [r.text for r in answers]
    assert len({r.json()["job_id"] for r in answers}) == 1
    wait_status(client, answers[0].json()["job_id"], "finished")


def test_keys_expire(client: httpx.Client, running_worker: Service, upload) -> None:
    key = secrets.token_hex(8)
    job_id = post(client, upload.png, key).json()["job_id"]
    digest = hashlib.sha256(key.encode()).hexdigest()
    rkey = f"saliency:idem::{digest}"  # owner "" with API keys off
    ttl = running_worker.redis.ttl(rkey)
    assert 0 < ttl <= 86400
    running_worker.redis.delete(rkey)  # as if it expired
    second = post(client, upload.png, key)
    assert second.status_code == 202 and second.json()["job_id"] != job_id
    for done in (job_id, second.json()["job_id"]):
        wait_status(client, done, "finished")


def test_bad_keys_are_422(client: httpx.Client, service: Service, upload) -> None:
    for key in ("", "x" * 256):
        r = post(client, upload.png, key)
        assert r.status_code == 422, r.text
        assert r.json()["code"] == "invalid_idempotency_key"


def _post_alone(url: str, png: bytes, key: str) -> httpx.Response:
    with httpx.Client(base_url=url, timeout=30) as own:  # one connection per thread
        return post(own, png, key)


def _other_png() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (40, 40), (200, 10, 10)).save(buf, format="PNG")
    return buf.getvalue()


def test_keys_are_per_api_key_name(service: Service, upload, tiny_models_file,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """With API keys on, two clients that happen to pick the same Idempotency-Key never meet."""
    from fastapi.testclient import TestClient

    from app.main import create_app
    from jobs.settings import Settings

    monkeypatch.setenv("SALIENCY_MODELS_FILE", str(tiny_models_file))
    secrets_ = {name: secrets.token_urlsafe(24) for name in ("alice", "bob")}
    settings = Settings(redis_url=service.env["SALIENCY_REDIS_URL"], queue=QUEUE, auth=True,
                        api_keys=",".join(f"{n}:{s}" for n, s in secrets_.items()))
    key = secrets.token_hex(8)
    with TestClient(create_app(settings), headers={"X-API-Key": secrets_["alice"]}) as alice, \
            TestClient(create_app(settings), headers={"X-API-Key": secrets_["bob"]}) as bob:
        a, b = post(alice, upload.png, key), post(bob, upload.png, key)
        assert a.status_code == b.status_code == 202, (a.text, b.text)
        assert a.json()["job_id"] != b.json()["job_id"]
        assert post(alice, upload.png, key).json()["job_id"] == a.json()["job_id"]
        assert post(bob, upload.png, key, target="cross").status_code == 409
        wait_status(alice, a.json()["job_id"], "finished")
        wait_status(bob, b.json()["job_id"], "finished")
