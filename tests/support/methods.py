"""Test-only saliency methods, loaded as a plugin (SALIENCY_PLUGINS=tests.support.methods) by the
test stacks' API and worker processes. Importing this module is torch-free, as the API needs;
the functions import torch when they run, in a worker.

- `gate`: reports `progress`, then waits until the file `release` exists (or the job is
  canceled), then returns a flat map: a running job that waits on the test, not on the clock.
- `sleepy`: runs for exactly `seconds` whatever the CPU, reporting progress, so a test can kill or
  stop a worker in the middle of a job or run past the job's time limit.
- `oom`: raises CUDA's out-of-memory error, as a too-large batch does on a GPU. On a machine with
  CUDA it first really tries to allocate far more than the GPU has.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from saliency.catalog.methods import MethodInfo, declare
from saliency.errors import SaliencyError


class GateParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    release: str = Field(description="path of a file; the method returns once it exists")
    progress: float = Field(0.5, gt=0, lt=1, description="the progress reported while waiting")
    timeout: float = Field(300, gt=0, le=600, description="seconds before giving up (a stuck test)")


class SleepyParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seconds: float = Field(1.0, ge=0, le=600)


class OomParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _flat(inputs: Any) -> Any:
    import torch

    from saliency.methods.base import MethodOutput

    return MethodOutput(maps=torch.ones(inputs.shape[0], *inputs.shape[-2:]), queries=1)


def gate(model: Any, inputs: Any, target: Any, params: GateParams, progress: Any = None) -> Any:
    release, deadline = Path(params.release), time.monotonic() + params.timeout
    while not release.exists():
        if progress is not None:
            progress(params.progress)  # also where a cancel request stops the job
        if time.monotonic() > deadline:
            raise SaliencyError(f"the gate {release} was never released")
        time.sleep(0.02)
    return _flat(inputs)


def sleepy(model: Any, inputs: Any, target: Any, params: SleepyParams, progress: Any = None) -> Any:
    end = time.monotonic() + params.seconds
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(0.05, left))
        if progress is not None:
            progress(1.0 - max(left, 0.0) / max(params.seconds, 1e-9))
    return _flat(inputs)


def oom(model: Any, inputs: Any, target: Any, params: OomParams, progress: Any = None) -> Any:
    import torch

    if torch.cuda.is_available():
        free, _ = torch.cuda.mem_get_info()
        torch.empty(free * 4, dtype=torch.uint8, device="cuda")  # raises OutOfMemoryError
    raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 80.00 GiB (simulated)")


declare(MethodInfo("gate", GateParams, "black-box", "test: waits until a file exists", f"{__name__}:gate"))
declare(MethodInfo("sleepy", SleepyParams, "black-box", "test: sleeps `seconds`, then returns a flat map",
                   f"{__name__}:sleepy"))
declare(MethodInfo("oom", OomParams, "black-box", "test: runs out of GPU memory", f"{__name__}:oom"))
