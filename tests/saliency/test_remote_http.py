"""What KServe cannot be made to do, served by a tiny real HTTP server (stdlib, in a thread):
JSON answered to a binary request, 429 with Retry-After, the bound on requests in flight, and
secret headers. Plus the models-file rules of a remote entry and the rate cap's schedule."""
from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from saliency.errors import ModelUnavailable, RemoteModelError
from saliency.models import describe, get_spec
from saliency.models.remote.calls import RateLimit
from saliency.models.remote.runtime import RemoteModel, request_sizes
from tests.support.remote import write_models

README = Path(__file__).resolve().parents[2] / "README.md"

SECRET = "s3cret-token-never-shown-0123456789"
Handler = Callable[["Server", BaseHTTPRequestHandler, dict[str, Any]], tuple[int, dict[str, str], bytes]]


class Server:
    """A V2 endpoint whose inference answers come from `handler`; ready and metadata are fixed."""

    def __init__(self, handler: Handler) -> None:
        self.handler, self.calls, self.active, self.most_active = handler, 0, 0, 0
        self.lock, self.changed = threading.Lock(), threading.Condition()
        server = self

        class Http(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def reply(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for k, v in {"Content-Length": str(len(body)), **headers}.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                meta = {"name": "m", "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 3, 4, 4]}],
                        "outputs": [{"name": "y", "datatype": "FP32", "shape": [-1, 2]}]}
                self.reply(200, {"Content-Type": "application/json"}, json.dumps(meta if not self.path.endswith(
                    "/ready") else {"ready": True}).encode())

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                split = int(self.headers.get("Inference-Header-Content-Length", len(body)))
                request = {**json.loads(body[:split]), "_raw": body[split:], "_headers": dict(self.headers)}
                with server.changed:
                    server.calls += 1
                    server.active += 1
                    server.most_active = max(server.most_active, server.active)
                    server.changed.notify_all()
                try:
                    answer = server.handler(server, self, request)
                finally:
                    # before the answer is sent: a client that has read it may send its next request
                    # at once, which must not find this one still counted as in flight
                    with server.changed:
                        server.active -= 1
                self.reply(*answer)

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Http)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/v2/models/m"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


def uniform_json(request: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    """A JSON answer (whatever was asked): each image gets probabilities [0.25, 0.75]."""
    n = request["inputs"][0]["shape"][0]
    out = {"outputs": [{"name": "y", "datatype": "FP32", "shape": [n, 2], "data": [0.25, 0.75] * n}]}
    return 200, {"Content-Type": "application/json"}, json.dumps(out).encode()


@pytest.fixture()
def serve() -> Iterator[Callable[[Handler], Server]]:
    servers: list[Server] = []
    yield lambda handler: servers.append(Server(handler)) or servers[-1]
    for s in servers:
        s.close()


@pytest.fixture()
def remote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., RemoteModel]:
    (tmp_path / "labels.txt").write_text("no\nyes\n")

    def make(url: str, **keys: Any) -> RemoteModel:
        entry = {"url": url, "labels": "labels.txt", "input_size": [4, 4], "mean": [0.5] * 3, "std": [0.25] * 3,
                 "output": "probabilities", "retries": 2, "backoff": 0.01, **keys}
        monkeypatch.setenv("SALIENCY_MODELS_FILE", str(write_models(tmp_path / "models.toml", {"r": entry})))
        return RemoteModel(get_spec("r"), torch.device("cpu"))
    return make


def x(n: int) -> torch.Tensor:
    return torch.zeros(n, 3, 4, 4)


def test_a_json_answer_to_a_binary_request_is_read_by_its_headers(serve, remote) -> None:
    asked: list[dict[str, Any]] = []
    server = serve(lambda s, h, r: (asked.append(r), uniform_json(r))[1])
    probs = remote(server.url, in_flight=1)(x(3))
    torch.testing.assert_close(probs, torch.tensor([[0.25, 0.75]] * 3))
    inputs, outputs = asked[0]["inputs"][0], asked[0]["outputs"][0]
    assert inputs["parameters"]["binary_data_size"] == 3 * 3 * 4 * 4 * 4 == len(asked[0]["_raw"])
    assert outputs == {"name": "y", "parameters": {"binary_data": True}}  # the full tensor, no top-k
    assert not np.frombuffer(asked[0]["_raw"], "<f4").any()  # normalised zeros, as raw little-endian FP32


def binary_answer(values: np.ndarray) -> tuple[int, dict[str, str], bytes]:
    """A binary-extension answer: the JSON header, then `values` as raw little-endian FP32."""
    raw = values.astype("<f4").tobytes()
    header = json.dumps({"outputs": [{"name": "y", "datatype": "FP32", "shape": list(values.shape),
                                      "parameters": {"binary_data_size": len(raw)}}]}).encode()
    return 200, {"Content-Type": "application/octet-stream",
                 "Inference-Header-Content-Length": str(len(header))}, header + raw


def test_a_binary_answer_is_read_as_raw_little_endian_bytes(serve, remote) -> None:
    server = serve(lambda s, h, r: binary_answer(np.array([[0.1, 0.9]] * r["inputs"][0]["shape"][0])))
    torch.testing.assert_close(remote(server.url, in_flight=1)(x(2)), torch.tensor([[0.1, 0.9]] * 2))


@pytest.mark.parametrize("bad, message", [(np.nan, "NaN or infinite values"), (np.inf, "NaN or infinite values")])
def test_nan_or_infinity_in_an_answer_is_a_clear_failure_and_not_retried(bad: float, message: str,
                                                                          serve, remote) -> None:
    server = serve(lambda s, h, r: binary_answer(np.array([[0.5, bad]] * r["inputs"][0]["shape"][0])))
    model = remote(server.url, in_flight=1)
    with pytest.raises(RemoteModelError, match=f"its answer is unusable: {message}") as err:
        model(x(2))
    assert server.url.removeprefix("http://").split("/")[0] in str(err.value)
    assert server.calls == 1 and model.runtime.caller.stats.retries == 0


def test_429_with_retry_after_is_retried(serve, remote) -> None:
    def busy_once(s: Server, h: Any, r: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        if s.calls == 1:
            return 429, {"Retry-After": "0"}, b'{"error": "too many requests"}'
        return uniform_json(r)
    model = remote(serve(busy_once).url)
    model(x(2))
    assert model.runtime.caller.stats.retries == 1


def test_no_more_requests_in_flight_than_declared(serve, remote) -> None:
    def wait_for_company(s: Server, h: Any, r: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        with s.changed:  # hold each request until a second one is in flight (a stuck test: 10 s)
            s.changed.wait_for(lambda: s.most_active >= 2, timeout=10)
        return uniform_json(r)
    server = serve(wait_for_company)
    model = remote(server.url, in_flight=2, max_batch=1)
    assert model(x(8)).shape == (8, 2)
    assert server.calls == 8 and server.most_active == 2


def test_request_sizes_fill_the_slots_within_the_caps() -> None:
    assert request_sizes(1, 64, 4) == [1]
    assert request_sizes(64, 64, 4) == [16, 16, 16, 16]
    assert request_sizes(256, 64, 4) == [64, 64, 64, 64]
    assert request_sizes(500, 64, 4) == [63] * 4 + [62] * 4
    assert request_sizes(10, 4, 2) == [4, 3, 3]


def test_the_byte_cap_splits_requests(serve, remote) -> None:
    sizes: list[int] = []
    server = serve(lambda s, h, r: (sizes.append(r["inputs"][0]["shape"][0]), uniform_json(r))[1])
    remote(server.url, max_request_bytes=2 * 192, in_flight=1)(x(5))  # 192 bytes an image
    assert sorted(sizes) == [1, 2, 2]


def test_headers_come_from_the_environment_and_are_never_shown(serve, remote, monkeypatch) -> None:
    def guarded(s: Server, h: Any, r: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        if r["_headers"].get("Authorization") != f"Bearer {SECRET}":
            return 401, {}, b'{"error": "unauthorized"}'
        return uniform_json(r)
    server = serve(guarded)
    headers = {"Authorization": "Bearer ${REMOTE_TEST_TOKEN}"}
    monkeypatch.delenv("REMOTE_TEST_TOKEN", raising=False)
    unset = remote(server.url, headers=headers)
    info = describe(unset.spec)
    assert not info.available and "REMOTE_TEST_TOKEN" in info.unavailable_reason
    monkeypatch.setenv("REMOTE_TEST_TOKEN", SECRET)
    model = remote(server.url, headers=headers)
    assert model(x(1)).shape == (1, 2)
    shown = json.dumps([describe(model.spec).model_dump(), model.identity(), repr(model.spec)])
    assert SECRET not in shown and "REMOTE_TEST_TOKEN" in repr(model.spec)
    monkeypatch.setenv("REMOTE_TEST_TOKEN", "wrong-" + SECRET)
    with pytest.raises(RemoteModelError, match="answered 401") as err:
        remote(server.url, headers=headers)(x(1))
    assert SECRET not in str(err.value)


def test_the_rate_cap_spreads_images_evenly() -> None:
    now, slept = [100.0], []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s
    limit = RateLimit(10.0, clock=lambda: now[0], sleep=sleep)
    assert limit.acquire(5) == 0  # the first request goes at once
    assert limit.acquire(5) == pytest.approx(0.5)  # 5 images at 10/s: half a second later
    now[0] += 2.0  # idle time is not saved up into a burst
    assert limit.acquire(10) == 0 and limit.acquire(1) == pytest.approx(1.0)


@pytest.mark.parametrize("keys, message", [
    ({"mean": None}, "mean and std: an FP32 endpoint fed normalised images needs them"),
    ({"url": "http://u:p@h:1/v2/models/m"}, "credentials do not belong in the URL"),
    ({"url": "http://h:1/models/m"}, "a v2 URL's path is /v2/models/NAME"),
    ({"protocol": "v2-grpc"}, "protocol v2-grpc needs a grpc or grpcs URL"),
    ({"gradients": True}, "gradients"),
    ({"datatype": "UINT8", "scale": "unit"}, "UINT8 inputs are pixel values"),
    ({"protocol": "v3"}, "protocol"),
    ({"max_request_bytes": 100}, "one image is 192 bytes"),
])
def test_the_models_file_refuses_a_remote_entry_that_cannot_work(keys: dict, message: str, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    entry = {"url": "http://h:1/v2/models/m", "labels": "l.txt", "input_size": [4, 4], "mean": [0.5] * 3,
             "std": [0.25] * 3, **keys}
    entry = {k: v for k, v in entry.items() if v is not None}
    monkeypatch.setenv("SALIENCY_MODELS_FILE", str(write_models(tmp_path / "models.toml", {"r": entry})))
    with pytest.raises(ModelUnavailable, match=message):
        get_spec("r")


def test_the_readmes_examples_work_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's models-file example (the issue's FP32 NCHW entry, and a UINT8 NHWC one without
    mean and std, with a secret header) is accepted as written; no server is needed to declare them."""
    section = README.read_text().split("## Explaining a model served elsewhere", 1)[1]
    example = re.search(r"```toml\n(.*?)```", section, re.DOTALL)[1]
    (tmp_path / "imagenet.txt").write_text("".join(f"class {i}\n" for i in range(1000)))
    (tmp_path / "models.toml").write_text(example)
    monkeypatch.setenv("SALIENCY_MODELS_FILE", str(tmp_path / "models.toml"))
    monkeypatch.setenv("KSERVE_TOKEN", SECRET)
    triton, kserve = describe(get_spec("prod_resnet")), describe(get_spec("kserve_mobilenet"))
    assert (triton.endpoint, triton.protocol, triton.classes) == ("triton:8000", "v2", 1000)
    assert (kserve.endpoint, kserve.protocol) == ("mobilenet.models.example.com:443", "v2-grpc")
    assert triton.available and kserve.available and not triton.gradients and not kserve.gradients
    assert get_spec("kserve_mobilenet").mean == (0.485, 0.456, 0.406)  # ImageNet's, for masked pixels
    ep = get_spec("kserve_mobilenet").remote
    assert (ep.layout, ep.datatype, ep.scale) == ("NHWC", "UINT8", "pixels")
    assert ep.headers()["Authorization"] == f"Bearer {SECRET}" and SECRET not in repr(ep)


def test_a_grpc_endpoint_where_grpcio_is_missing_is_unavailable_and_says_what_to_install(
        remote, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "grpc", None)  # what `import grpc` meets where it is not installed
    monkeypatch.delitem(sys.modules, "saliency.models.remote.v2grpc", raising=False)
    model = remote("grpc://127.0.0.1:1/m", protocol="v2-grpc")
    with pytest.raises(ModelUnavailable, match="served over v2-grpc, which needs the Python package 'grpc'"):
        model(x(1))
