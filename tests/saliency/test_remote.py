"""Remote models against a real KServe ModelServer (tests/support/remote.py): every protocol and
input format answers what the same network answers locally, the same seed gives the same map,
and each way an endpoint can fail ends in an error that names it and says what it answered."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from saliency.catalog.options import OiseParams
from saliency.errors import RemoteModelError, UnsupportedMethod
from saliency.methods.oise import oise
from saliency.models import get_spec, load_model
from saliency.models.remote.runtime import RemoteModel
from tests.support.processes import free_port
from tests.support.remote import KServe, write_models

FAST = OiseParams(queries=120, chains=40, grid=4, seed=3)


@pytest.fixture()
def remote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """remote(**entry) -> a RemoteModel built through the registry from a models file holding it."""
    def make(**entry: Any) -> RemoteModel:
        monkeypatch.setenv("SALIENCY_MODELS_FILE", str(write_models(tmp_path / "models.toml", {"r": entry})))
        return RemoteModel(get_spec("r"), torch.device("cpu"))
    return make


@pytest.fixture()
def local(tiny_toml: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SALIENCY_MODELS_FILE", str(tiny_toml))
    return load_model("tiny", device="cpu")


def quantised(x: torch.Tensor, mean: float = 0.5, std: float = 0.25) -> torch.Tensor:
    """What a UINT8 endpoint sees of normalised images: pixels rounded to 0..255, normalised back."""
    return (((x * std + mean) * 255).round().clamp(0, 255) / 255 - mean) / std


def images(n: int = 6, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed)).clamp(-2, 2)


CASES = {
    "v2 binary FP32 NCHW": ("tiny", "v2", {}),
    "v2 JSON FP32 NCHW": ("tiny", "v2", {"binary": False}),
    "v2-grpc FP32 NCHW": ("tiny", "v2-grpc", {}),
    "v1 FP32 NCHW": ("tiny", "v1", {}),
    "v2 binary UINT8 NHWC": ("tiny_u8", "v2", {"layout": "NHWC", "datatype": "UINT8", "output": "probabilities"}),
    "v2-grpc UINT8 NHWC": ("tiny_u8", "v2-grpc", {"layout": "NHWC", "datatype": "UINT8", "output": "probabilities"}),
    "v1 UINT8 NHWC": ("tiny_u8", "v1", {"layout": "NHWC", "datatype": "UINT8", "output": "probabilities"}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_every_protocol_answers_what_the_network_answers_locally(case: str, kserve: KServe, remote, local) -> None:
    served, protocol, keys = CASES[case]
    model = remote(**kserve.entry(served, protocol, max_batch=4, in_flight=2, **keys))
    x = images(10)  # three requests of at most 4 images, two in flight
    expected = local(quantised(x) if served == "tiny_u8" else x)
    got = model(x)
    assert got.shape == (10, 4) and got.dtype == torch.float32
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
    assert model.runtime.caller.stats.images == 10 and model.runtime.caller.stats.retries == 0


def test_uint8_nhwc_without_mean_and_std_uses_imagenets_and_works(kserve: KServe, remote) -> None:
    entry = kserve.entry("tiny_u8", "v2", layout="NHWC", datatype="UINT8", output="probabilities")
    del entry["mean"], entry["std"]
    model = remote(**entry)
    assert model.spec.mean == (0.485, 0.456, 0.406) and model.spec.std == (0.229, 0.224, 0.225)
    probs = model(images(3))
    torch.testing.assert_close(probs.sum(1), torch.ones(3), atol=1e-4, rtol=0)


def test_a_remote_model_and_the_same_network_run_locally_give_the_same_map(kserve: KServe, remote, local) -> None:
    x, target = images(1), torch.tensor([1])
    here = oise(local, x, target, FAST).maps
    there = oise(remote(**kserve.entry("tiny", "v2")), x, target, FAST).maps
    torch.testing.assert_close(there, here, atol=1e-4, rtol=0)
    # UINT8 endpoints see rounded pixels: the same map as the local network on rounded pixels
    rounded = oise(lambda imgs: local(quantised(imgs)), x, target, FAST).maps
    u8 = remote(**kserve.entry("tiny_u8", "v2-grpc", layout="NHWC", datatype="UINT8", output="probabilities"))
    torch.testing.assert_close(oise(u8, x, target, FAST).maps, rounded, atol=1e-4, rtol=0)


def test_load_model_returns_a_black_box_remote_model(kserve: KServe, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from saliency.models import describe

    name = f"remote_{free_port()}"  # load_model caches by name: one of its own
    write_models(tmp_path / "models.toml", {name: kserve.entry("tiny", "v2")})
    monkeypatch.setenv("SALIENCY_MODELS_FILE", str(tmp_path / "models.toml"))
    model = load_model(name, device="cpu")
    assert isinstance(model, RemoteModel) and model.module is None and model.chunk == 64 * 4
    info = describe(get_spec(name))
    assert info.source == "remote" and not info.gradients and info.available
    assert "oise" in info.methods and "gradcam" not in info.methods
    assert info.endpoint == kserve.http.removeprefix("http://") and info.protocol == "v2"
    from saliency.methods import get_method

    with pytest.raises(UnsupportedMethod, match="needs gradients"):  # the library refuses too
        get_method("gradcam").fn(model, images(1), torch.tensor([0]), get_method("gradcam").parse_params({}))


@pytest.mark.parametrize("protocol", ["v2", "v2-grpc"])
def test_503_then_200_is_retried(protocol: str, kserve: KServe, remote, local) -> None:
    model = remote(**kserve.entry("tiny_flaky", protocol, max_batch=3, in_flight=2))
    x = images(6, seed=len(protocol))  # inputs the flaky model has not seen: it fails each once
    torch.testing.assert_close(model(x), local(x), atol=1e-5, rtol=0)
    stats = model.runtime.caller.stats
    assert stats.retries == 2 and stats.images == 6  # each of the two requests failed once, then passed


def test_a_dead_endpoint_fails_after_its_retries_naming_it(remote, tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    (tmp_path / "labels.txt").write_text("a\nb\n")
    model = remote(url=f"http://127.0.0.1:{port}/v2/models/tiny", labels="labels.txt", input_size=[32, 32],
                   mean=[0.5] * 3, std=[0.25] * 3, retries=2, backoff=0.01)
    with pytest.raises(RemoteModelError) as err:
        model(images(2))
    message = str(err.value)
    assert f"127.0.0.1:{port}" in message and "could not connect" in message and "after 3 attempts" in message
    assert model.runtime.caller.stats.attempts == 3


def test_a_slow_endpoint_times_out(kserve: KServe, remote) -> None:
    model = remote(**kserve.entry("tiny_slow", "v2", timeout=0.3, retries=0))
    with pytest.raises(RemoteModelError, match=r"no answer from 127\.0\.0\.1:\d+ within 0\.3 s"):
        model(images(2))


def test_a_slow_grpc_endpoint_times_out(kserve: KServe, remote) -> None:
    model = remote(**kserve.entry("tiny_slow", "v2-grpc", timeout=0.3, retries=0))
    with pytest.raises(RemoteModelError, match="DEADLINE_EXCEEDED"):
        model(images(2))


@pytest.mark.parametrize("protocol", ["v2", "v2-grpc", "v1"])
def test_a_model_that_is_not_ready_fails_its_readiness_check_before_any_query(protocol: str, kserve: KServe,
                                                                              remote) -> None:
    model = remote(**kserve.entry("tiny_down", protocol, retries=1))
    with pytest.raises(RemoteModelError, match="the readiness check failed.*not ready") as err:
        model.check_ready()  # what the worker calls at each job's start
    assert "tiny_down" in str(err.value)
    with pytest.raises(RemoteModelError, match="not ready"):
        model(images(1))  # a process's first forward call checks too
    stats = model.runtime.caller.stats
    assert stats.images == 0 and stats.retries == 2  # not ready is transient: retried, then final


@pytest.mark.parametrize("protocol", ["v2", "v2-grpc", "v1"])
def test_a_wrong_shape_is_a_clear_failure_and_not_retried(protocol: str, kserve: KServe, remote) -> None:
    model = remote(**kserve.entry("tiny_wrong", protocol, in_flight=1))
    with pytest.raises(RemoteModelError, match=r"shape \[2, 3\] for 2 images.* 4 classes") as err:
        model(images(2))
    assert "tiny_wrong" in str(err.value) or kserve.http.removeprefix("http://") in str(err.value)
    assert model.runtime.caller.stats.retries == 0


def test_a_4xx_is_not_retried(kserve: KServe, remote) -> None:
    model = remote(**kserve.entry("tiny", "v2", input_name="nope"))
    with pytest.raises(RemoteModelError, match="answered 400") as err:
        model(images(2))
    assert "unknown input 'nope'" in str(err.value)
    assert model.runtime.caller.stats.retries == 0


def test_logits_declared_as_probabilities_are_refused(kserve: KServe, remote) -> None:
    model = remote(**kserve.entry("tiny", "v2", output="probabilities"))
    with pytest.raises(RemoteModelError, match='do not sum to 1.*declare output = "logits"'):
        model(images(2))


@pytest.mark.parametrize("keys, message", [
    ({"datatype": "UINT8", "layout": "NCHW"}, "its input 'images' is FP32"),
    ({"layout": "NHWC"}, "does not fit layout NHWC"),
])
def test_a_declaration_that_contradicts_the_metadata_fails_before_any_query(
        keys: dict, message: str, kserve: KServe, remote) -> None:
    model = remote(**kserve.entry("tiny", "v2", **keys))
    with pytest.raises(RemoteModelError, match=message):
        model(images(1))
    assert model.runtime.caller.stats.images == 0


def test_a_grpc_message_over_the_servers_limit_is_not_retried_and_says_what_to_change(kserve: KServe,
                                                                                      remote) -> None:
    model = remote(**kserve.entry("tiny", "v2-grpc", max_batch=800, in_flight=1))  # 9.8 MB: KServe takes 8 MiB
    with pytest.raises(RemoteModelError, match="RESOURCE_EXHAUSTED.*lower max_request_bytes"):
        model(torch.zeros(800, 3, 32, 32))
    assert model.runtime.caller.stats.retries == 0
