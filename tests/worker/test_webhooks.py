"""Webhooks against a real HTTP receiver: signed in the Standard Webhooks format with the API
key's own secret and verified with the `standardwebhooks` package, retried after a 5xx, every
attempt visible on the job; the events filter; and the callback URL policy (SSRF, DNS rebinding)."""
from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from jobs.callbacks import _host_matches, accept_callback, check_callback_url
from jobs.errors import CallbackRefused, WebhooksDisabled
from jobs.settings import Settings
from worker.webhooks import backoff
from tests.support.stack import (FAST, QUEUE, WEBHOOK_SECRET, Gate, Service, enqueue, submit, submit_ok,
                                    wait_status, wait_until)

README = Path(__file__).resolve().parents[2] / "README.md"


@dataclass
class Hit:
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    """Answers the statuses of `plan` in turn (the last one from then on) and keeps every request."""

    plan: list[int]
    hits: list[Hit] = field(default_factory=list)
    url: str = ""

    def handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.hits.append(Hit({k.lower(): v for k, v in self.headers.items()}, body, time.time()))
                status = receiver.plan[min(len(receiver.hits), len(receiver.plan)) - 1]
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        return Handler


@contextmanager
def serving(rec: Receiver, host: str = "127.0.0.1", port: int = 0) -> Iterator[Receiver]:
    server = ThreadingHTTPServer((host, port), rec.handler())
    rec.url = f"http://{host}:{server.server_address[1]}/hooks/saliency"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def receiver(request: pytest.FixtureRequest) -> Iterator[Receiver]:
    with serving(Receiver(plan=getattr(request, "param", [200]))) as rec:
        yield rec


def readme_verify():
    """The verification snippet of the README, run as written: the docs cannot drift."""
    text = README.read_text()
    block = re.search(r"```python\n(# Verify a saliency webhook.*?)```", text, re.S)
    assert block, "README has no webhook verification snippet"
    scope: dict = {}
    exec(block.group(1), scope)  # noqa: S102 - our own README
    return scope["verify"]


def secret_of(client: httpx.Client) -> str:
    r = client.get("/webhooks/secret")
    assert r.status_code == 200, r.text
    assert r.json()["key"].startswith("whsec_")
    return r.json()["key"]


def check_signature(hit: Hit, secret: str) -> dict:
    """The event, verified by the standardwebhooks package and by the README's snippet."""
    event = Webhook(secret).verify(hit.body, hit.headers)
    assert abs(time.time() - int(hit.headers["webhook-timestamp"])) < 60
    assert readme_verify()(hit.body, hit.headers, secret) == event
    assert set(event) == {"type", "timestamp", "data"}
    return event


@pytest.mark.parametrize("receiver", [[500, 200]], indirect=True)
def test_signed_delivery_retried_after_a_500(client: httpx.Client, running_worker: Service, upload,
                                             receiver: Receiver) -> None:
    job_id = submit_ok(client, upload.png, model="tiny", params=FAST, callback_url=receiver.url)
    done = wait_status(client, job_id, "finished", "failed")
    assert done["status"] == "finished", done["error"]
    wait_until(lambda: len(receiver.hits) >= 2, 20, "the retried delivery")
    first, second = receiver.hits[:2]
    secret = secret_of(client)
    events = [check_signature(h, secret) for h in (first, second)]
    assert [e["type"] for e in events] == ["job.completed", "job.completed"]
    assert [e["data"]["job_id"] for e in events] == [job_id, job_id]
    assert events[1]["data"]["status"] == "finished"
    assert events[1]["data"]["result"]["queries"] == done["result"]["queries"]
    # One message, attempted twice: the same webhook-id, so a receiver can drop repeats.
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == f"{job_id}.completed"
    assert second.at - first.at >= 0.2  # SALIENCY_WEBHOOK_BACKOFF in the test env
    # A tampered body, another secret or an old timestamp does not verify.
    verify = readme_verify()
    assert verify(second.body.replace(b"finished", b"failed!!"), second.headers, secret) is None
    assert verify(second.body, second.headers, "whsec_" + "A" * 43 + "=") is None
    stale = {**second.headers, "webhook-timestamp": str(int(time.time()) - 3600)}
    assert verify(second.body, stale, secret) is None

    view = wait_until(lambda: (v := client.get(f"/jobs/{job_id}").json())["webhook"]["state"] == "delivered" and v,
                      10, "the delivery to be recorded")
    attempts = view["webhook"]["attempts"]
    assert [(a["event"], a["attempt"], a["status_code"], a["ok"]) for a in attempts] == [
        ("completed", 1, 500, False), ("completed", 2, 200, True)]
    assert attempts[0]["error"] == "HTTP 500" and attempts[1]["error"] is None
    assert view["webhook"]["url"] == receiver.url and view["webhook"]["events"] == ["completed"]
    time.sleep(0.8)  # nothing more is sent once delivered
    assert len(receiver.hits) == 2


@pytest.mark.parametrize("receiver", [[503]], indirect=True)
def test_failed_job_is_notified_and_retries_are_bounded(client: httpx.Client, running_worker: Service,
                                                        upload, receiver: Receiver) -> None:
    job_id = submit_ok(client, upload.png, model="broken", callback_url=receiver.url)
    assert wait_status(client, job_id, "failed")["status"] == "failed"
    attempts = int(running_worker.env["SALIENCY_WEBHOOK_ATTEMPTS"])
    view = wait_until(lambda: (v := client.get(f"/jobs/{job_id}").json())["webhook"]["state"] == "failed" and v,
                      20, "the retries to run out")
    assert len(view["webhook"]["attempts"]) == attempts == len(receiver.hits)
    assert all(a["status_code"] == 503 for a in view["webhook"]["attempts"])
    event = check_signature(receiver.hits[-1], secret_of(client))
    assert event["data"]["status"] == "failed" and event["data"]["error"]
    gaps = [b.at - a.at for a, b in zip(receiver.hits, receiver.hits[1:])]
    settings = Settings(webhook_backoff=float(running_worker.env["SALIENCY_WEBHOOK_BACKOFF"]))
    assert [backoff(settings, n) for n in (1, 2)] == [0.2, 0.4]  # doubled after each failure
    assert gaps[0] >= 0.2 and gaps[1] >= 0.4, gaps


def test_events_filter_start_progress_completed(client: httpx.Client, running_worker: Service, upload,
                                                receiver: Receiver, gate: Gate) -> None:
    """Like Replicate's webhook_events_filter: each asked-for event once, each its own message."""
    release = gate.params(progress=0.5)
    job_id = submit_ok(client, upload.png, model="tiny", method="gate", params=release,
                       callback_url=receiver.url, webhook_events_filter='["start", "progress", "completed"]')
    secret = secret_of(client)
    # The job holds at 0.5 until released: start and one progress event arrive while it runs.
    wait_until(lambda: len(receiver.hits) >= 2, 20, "the start and progress events")
    running = [check_signature(h, secret) for h in receiver.hits]
    assert sorted(e["type"] for e in running) == ["job.progress", "job.start"]
    assert all(e["data"]["status"] == "started" for e in running)
    assert next(e for e in running if e["type"] == "job.progress")["data"]["progress"] == 0.5
    gate.release(release)
    wait_status(client, job_id, "finished")
    wait_until(lambda: len(receiver.hits) >= 3, 20, "the completed event")
    events = [check_signature(h, secret) for h in receiver.hits]
    assert sorted(e["type"] for e in events) == ["job.completed", "job.progress", "job.start"]
    assert len({h.headers["webhook-id"] for h in receiver.hits}) == 3
    view = client.get(f"/jobs/{job_id}").json()["webhook"]
    assert view["events"] == ["start", "progress", "completed"] and view["state"] == "delivered"
    assert sorted(a["event"] for a in view["attempts"]) == ["completed", "progress", "start"]


@pytest.mark.parametrize("value", ["finished", '["start", "logs"]', "[1,"])
def test_bad_events_filters_are_422(client: httpx.Client, service: Service, upload, receiver: Receiver,
                                    value: str) -> None:
    r = submit(client, upload.png, model="tiny", callback_url=receiver.url, webhook_events_filter=value)
    assert r.status_code == 422 and r.json()["field"] == "webhook_events_filter", r.text
    r = submit(client, upload.png, model="tiny", webhook_events_filter="start")  # nowhere to send them
    assert r.status_code == 422 and r.json()["field"] == "webhook_events_filter", r.text


def test_each_api_key_signs_with_its_own_secret(service: Service, running_worker: Service, upload,
                                                receiver: Receiver, tiny_models_file,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A tenant who verifies its deliveries cannot forge another's: alice's deliveries verify with
    her secret and fail with bob's; a rotation signs with both secrets for the grace period."""
    from fastapi.testclient import TestClient

    from app.main import create_app

    monkeypatch.setenv("SALIENCY_MODELS_FILE", str(tiny_models_file))
    keys = {name: secrets.token_urlsafe(24) for name in ("alice", "bob")}
    settings = Settings(redis_url=service.env["SALIENCY_REDIS_URL"], queue=QUEUE, auth=True,
                        api_keys=",".join(f"{n}:{k}" for n, k in keys.items()), webhook_secret=WEBHOOK_SECRET,
                        webhook_allow_private=True)
    with TestClient(create_app(settings), headers={"X-API-Key": keys["alice"]}) as alice, \
            TestClient(create_app(settings), headers={"X-API-Key": keys["bob"]}) as bob:
        ours, theirs = secret_of(alice), secret_of(bob)
        assert ours != theirs and secret_of(alice) == ours  # stable: derived, not random
        first = submit_ok(alice, upload.png, model="tiny", params=FAST, callback_url=receiver.url)
        wait_until(lambda: len(receiver.hits) >= 1, 30, "alice's delivery")
        assert check_signature(receiver.hits[0], ours)["data"]["job_id"] == first
        with pytest.raises(WebhookVerificationError):
            Webhook(theirs).verify(receiver.hits[0].body, receiver.hits[0].headers)

        rotated = alice.post("/webhooks/secret/rotate").json()["key"]
        assert rotated not in (ours, theirs) and secret_of(alice) == rotated and secret_of(bob) == theirs
        second = submit_ok(alice, upload.png, model="tiny", params=FAST, callback_url=receiver.url)
        wait_until(lambda: len(receiver.hits) >= 2, 30, "alice's second delivery")
        hit = receiver.hits[1]
        assert len(hit.headers["webhook-signature"].split(" ")) == 2  # new and previous, for the grace
        for secret in (rotated, ours):
            assert check_signature(hit, secret)["data"]["job_id"] == second
        with pytest.raises(WebhookVerificationError):
            Webhook(theirs).verify(hit.body, hit.headers)


def test_the_delivery_connects_to_the_address_that_was_checked(service: Service, upload) -> None:
    """DNS rebinding: the name is resolved once, by the check, and the connection goes to that
    address (with the name in Host), never to a second answer of the resolver."""
    from redis import Redis

    from jobs.callbacks import Callback
    from worker.webhooks import deliver

    with serving(Receiver(plan=[200]), "127.0.0.2") as a, \
            serving(Receiver(plan=[200]), "127.0.0.1", int(a.url.split(":")[2].split("/")[0])) as b:
        port = int(a.url.split(":")[2].split("/")[0])  # both listen on it, at two addresses
        url = f"http://rebind.test:{port}/hooks/saliency"
        answers = iter([["127.0.0.2"], ["127.0.0.1"]])  # the first answer is checked; later ones lie
        asked: list[str] = []

        def resolve(host: str, port_: int) -> list:
            import ipaddress

            asked.append(host)
            return [ipaddress.ip_address(a) for a in next(answers)]

        settings = Settings(redis_url=service.env["SALIENCY_REDIS_URL"], queue="rebind", key_prefix="rebind",
                            webhook_secret=WEBHOOK_SECRET, webhook_allow_private=True)
        redis = Redis.from_url(settings.redis_url)
        job_id = enqueue(redis, settings, upload.png, callback_url=url)  # queued on a queue nobody serves
        with httpx.Client(timeout=5) as http:
            assert deliver(http, redis, settings, job_id, "completed", resolve=resolve) == "delivered"
        assert asked == ["rebind.test"]
        assert len(a.hits) == 1 and b.hits == []
        assert a.hits[0].headers["host"] == f"rebind.test:{port}"
        assert Callback(url, ()).host == "rebind.test"


def test_backoff_is_capped() -> None:
    settings = Settings(webhook_backoff=2, webhook_backoff_max=300)
    assert [backoff(settings, n) for n in range(1, 10)] == [2, 4, 8, 16, 32, 64, 128, 256, 300]


@pytest.mark.parametrize("receiver", [[410]], indirect=True)
def test_a_4xx_is_not_retried(client: httpx.Client, running_worker: Service, upload, receiver: Receiver) -> None:
    job_id = submit_ok(client, upload.png, model="tiny", params=FAST, callback_url=receiver.url)
    wait_status(client, job_id, "finished")
    view = wait_until(lambda: (v := client.get(f"/jobs/{job_id}").json())["webhook"]["state"] == "failed" and v,
                      10, "the delivery to fail")
    time.sleep(0.8)
    assert len(receiver.hits) == 1 and view["webhook"]["attempts"][0]["status_code"] == 410


def test_no_callback_no_webhook(client: httpx.Client, running_worker: Service, upload) -> None:
    job_id = submit_ok(client, upload.png, model="tiny", params=FAST)
    assert wait_status(client, job_id, "finished")["webhook"] is None


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "http://", "not a url",
                                 "http://user:pw@example.com/hook"])
def test_bad_callback_urls_are_422(client: httpx.Client, service: Service, upload, url: str) -> None:
    r = submit(client, upload.png, model="tiny", callback_url=url)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "callback_url" and r.json()["code"] == "invalid_callback_url"


@pytest.mark.parametrize("url", ["http://127.0.0.1/x", "http://localhost:8000/x", "http://10.1.2.3/x",
                                 "http://192.168.0.1/x", "http://169.254.169.254/latest/meta-data",
                                 "http://[::1]/x", "http://[::ffff:127.0.0.1]/x", "http://0.0.0.0/x",
                                 "https://224.0.0.1/x"])
def test_private_addresses_are_refused_by_default(url: str) -> None:
    with pytest.raises(CallbackRefused, match="non-public"):
        check_callback_url(url, Settings(webhook_allow_private=False))
    assert check_callback_url(url, Settings(webhook_allow_private=True)) == url


def test_allowed_hosts_and_dns() -> None:
    settings = Settings(webhook_allowed_hosts="localhost, *.corp.example", webhook_allow_private=True)
    assert check_callback_url("http://localhost:9000/x", settings) == "http://localhost:9000/x"
    with pytest.raises(CallbackRefused, match="ALLOWED_HOSTS"):
        check_callback_url("https://evil.example.net/x", settings)
    with pytest.raises(CallbackRefused, match="ALLOWED_HOSTS"):
        check_callback_url("https://corp.example.evil.net/x", settings)
    assert _host_matches("a.b.corp.example", "*.corp.example") and not _host_matches("corp.example", "*.corp.example")
    with pytest.raises(CallbackRefused, match="does not resolve"):
        check_callback_url("http://does-not-exist.invalid/hook", Settings())
    # A public literal address passes the address check without DNS.
    assert check_callback_url("https://93.184.216.34/hook", Settings()) == "https://93.184.216.34/hook"


def test_callbacks_need_a_secret() -> None:
    with pytest.raises(WebhooksDisabled) as err:
        accept_callback("https://93.184.216.34/hook", Settings(webhook_secret=""))
    assert err.value.code == "webhooks_disabled"
    assert accept_callback("  ", Settings(webhook_secret="")) is None
