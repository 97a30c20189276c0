"""Webhooks against a real HTTP receiver: signed with the README's scheme, retried after a 5xx,
every attempt visible on the job; and the callback URL policy (SSRF)."""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from jobs.callbacks import _host_matches, accept_callback, check_callback_url
from jobs.errors import CallbackRefused, WebhooksDisabled
from jobs.settings import Settings
from worker.webhooks import backoff
from tests.support.stack import FAST, WEBHOOK_SECRET, Service, submit, submit_ok, wait_status, wait_until

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


@pytest.fixture
def receiver(request: pytest.FixtureRequest) -> Iterator[Receiver]:
    rec = Receiver(plan=request.param)
    server = ThreadingHTTPServer(("127.0.0.1", 0), rec.handler())
    rec.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/saliency"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield rec
    server.shutdown()
    server.server_close()


def readme_verify():
    """The verification snippet of the README, run as written: the docs cannot drift."""
    text = README.read_text()
    block = re.search(r"```python\n(# Verify a saliency webhook.*?)```", text, re.S)
    assert block, "README has no webhook verification snippet"
    scope: dict = {}
    exec(block.group(1), scope)  # noqa: S102 - our own README
    return scope["verify"]


def check_signature(hit: Hit) -> dict:
    stamp = hit.headers["x-saliency-timestamp"]
    expected = "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), stamp.encode() + b"." + hit.body,
                                    hashlib.sha256).hexdigest()
    assert hmac.compare_digest(hit.headers["x-saliency-signature"], expected)
    assert abs(time.time() - int(stamp)) < 60
    assert readme_verify()(hit.body, hit.headers, WEBHOOK_SECRET)
    return json.loads(hit.body)


@pytest.mark.parametrize("receiver", [[500, 200]], indirect=True)
def test_signed_delivery_retried_after_a_500(client: httpx.Client, running_worker: Service, upload,
                                             receiver: Receiver) -> None:
    job_id = submit_ok(client, upload.png, model="tiny", params=FAST, callback_url=receiver.url)
    done = wait_status(client, job_id, "finished", "failed")
    assert done["status"] == "finished", done["error"]
    wait_until(lambda: len(receiver.hits) >= 2, 20, "the retried delivery")
    first, second = receiver.hits[:2]
    docs = [check_signature(h) for h in (first, second)]
    assert [d["job_id"] for d in docs] == [job_id, job_id]
    assert docs[1]["status"] == "finished" and docs[1]["result"]["queries"] == done["result"]["queries"]
    assert [h.headers["x-saliency-attempt"] for h in (first, second)] == ["1", "2"]
    assert second.at - first.at >= 0.2  # SALIENCY_WEBHOOK_BACKOFF in the test env
    # A tampered body or a wrong secret does not verify.
    verify = readme_verify()
    assert not verify(second.body.replace(b"finished", b"failed!!"), second.headers, WEBHOOK_SECRET)
    assert not verify(second.body, second.headers, "another-secret")
    assert not verify(second.body, {**second.headers, "x-saliency-timestamp": str(int(time.time()) - 3600)},
                      WEBHOOK_SECRET)

    view = wait_until(lambda: (v := client.get(f"/jobs/{job_id}").json())["webhook"]["state"] == "delivered" and v,
                      10, "the delivery to be recorded")
    attempts = view["webhook"]["attempts"]
    assert [(a["attempt"], a["status_code"], a["ok"]) for a in attempts] == [(1, 500, False), (2, 200, True)]
    assert attempts[0]["error"] == "HTTP 500" and attempts[1]["error"] is None
    assert view["webhook"]["url"] == receiver.url
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
    doc = check_signature(receiver.hits[-1])
    assert doc["status"] == "failed" and doc["error"]
    gaps = [b.at - a.at for a, b in zip(receiver.hits, receiver.hits[1:])]
    settings = Settings(webhook_backoff=float(running_worker.env["SALIENCY_WEBHOOK_BACKOFF"]))
    assert [backoff(settings, n) for n in (1, 2)] == [0.2, 0.4]  # doubled after each failure
    assert gaps[0] >= 0.2 and gaps[1] >= 0.4, gaps


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
