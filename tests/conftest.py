"""Fixtures every test folder may use: the tiny model (tests/support/tiny.py) and the service stack
(tests/support/stack.py), and a KServe server for remote models (tests/support/remote.py). Each folder's own conftest.py holds what only its tests need."""

pytest_plugins = ["tests.support.tiny", "tests.support.stack", "tests.support.remote"]

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(2)  # CI's machine has two cores; in-process explanations use both


@pytest.fixture(autouse=True)
def quick_calibration(monkeypatch: pytest.MonkeyPatch) -> None:
    """Models loaded in the test process time each batch size once instead of for 0.2 s: the
    chunk only changes speed, never a result (tests/saliency/test_oise.py)."""
    monkeypatch.setattr("saliency.runtimes.calibrate.MIN_SECONDS", 0.0)
