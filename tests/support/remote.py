"""A real KServe ModelServer serving the tiny CNN, as a pytest fixture, and models files that
declare models served by it. Loaded for every test from tests/conftest.py (`pytest_plugins`).

The server runs tests/support/kserve/server.py in its own virtualenv (.venv-kserve, built by
`make kserve-venv` from requirements/kserve.txt); without it the tests that need it skip and say
why. It serves, on free ports, REST (V1 and V2, JSON and binary) and V2 gRPC:

- `tiny`: FP32, NCHW, normalised input (mean 0.5, std 0.25), logits;
- `tiny_u8`: UINT8 pixels, NHWC, normalises inside, probabilities;
- `tiny_slow` (answers after SLOW seconds), `tiny_flaky` (503 / UNAVAILABLE the first time it
  sees an input), `tiny_wrong` (one class too few), `tiny_down` (loaded but not ready):
  misbehaving on purpose.
"""
from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.support.processes import ROOT, Proc, free_port, wait_answering

VENV = Path(os.environ.get("SALIENCY_KSERVE_VENV", ROOT / ".venv-kserve"))
SLOW = 3.0  # seconds tiny_slow takes per request: far above the timeouts the tests set
TINY = {"input_size": [32, 32], "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}


@dataclass
class KServe:
    http: str  # http://127.0.0.1:PORT
    grpc: str  # grpc://127.0.0.1:PORT
    labels: Path
    proc: Proc

    def url(self, model: str, protocol: str = "v2") -> str:
        if protocol == "v2-grpc":
            return f"{self.grpc}/{model}"
        return f"{self.http}/{'v1' if protocol == 'v1' else 'v2'}/models/{model}"

    def entry(self, model: str = "tiny", protocol: str = "v2", **keys: Any) -> dict[str, Any]:
        """A models-file entry for `model` on this server (the tiny CNN's size and normalisation)."""
        return {"url": self.url(model, protocol), "protocol": protocol, "labels": str(self.labels), **TINY,
                "retries": 2, "backoff": 0.01, **keys}


def toml_value(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(value)  # strings, numbers and booleans are spelt alike in JSON and TOML


def write_models(path: Path, models: dict[str, dict[str, Any]], prefix: str = "") -> Path:
    """A models file with these entries (after `prefix`, e.g. another file's text)."""
    body = "".join(f"\n[models.{name}]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in fields.items())
                   for name, fields in models.items())
    path.write_text(prefix + body)
    return path


def export_weights(tiny_toml: Path, out: Path) -> Path:
    """The tiny CNN's tensors as .npz: what the numpy server computes with."""
    from saliency.models.config import load_file

    module = load_file(tiny_toml.parent / "tiny.pt2")
    np.savez(out, **{k: v.detach().numpy() for k, v in module.state_dict().items()})
    return out


@pytest.fixture(scope="session")
def kserve(tiny_toml: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KServe]:
    if not (VENV / ".installed").exists():
        pytest.skip(f"the KServe test venv {VENV} is not built: `make kserve-venv` builds it (needs PyPI; "
                    f"see {VENV}.log)")
    folder = tmp_path_factory.mktemp("kserve")
    models = [{"name": "tiny"},
              {"name": "tiny_u8", "layout": "NHWC", "datatype": "UINT8", "output": "probabilities"},
              {"name": "tiny_slow", "behaviour": "slow", "seconds": SLOW},
              {"name": "tiny_flaky", "behaviour": "flaky"},
              {"name": "tiny_wrong", "behaviour": "wrong_shape"},
              {"name": "tiny_down", "behaviour": "not_ready"}]
    config = folder / "models.json"
    config.write_text(json.dumps({"weights": str(export_weights(tiny_toml, folder / "tiny.npz")), "models": models}))
    http, grpc = free_port(), free_port()
    env = {"PATH": os.environ.get("PATH", ""), "KSERVE_TEST_MODELS": str(config), "PYTHONUNBUFFERED": "1"}
    proc = Proc("kserve", [str(VENV / "bin" / "python"), str(ROOT / "tests/support/kserve/server.py"),
                           "--http_port", str(http), "--grpc_port", str(grpc)], env, folder / "kserve.log")
    proc.start()
    server = KServe(f"http://127.0.0.1:{http}", f"grpc://127.0.0.1:{grpc}", tiny_toml.parent / "tiny_labels.txt",
                    proc)
    try:
        wait_answering(proc, f"{server.http}/v2/models/tiny/ready", "the KServe ModelServer to serve the tiny model",
                       timeout=60)
        yield server
    finally:
        proc.stop(signal.SIGINT)
