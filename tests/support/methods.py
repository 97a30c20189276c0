"""Test-only saliency methods, registered in the API and worker processes of the fault tests
(tests/test_service_faults.py) by importing this module before the process's own entry point.

- `sleepy`: runs for exactly `seconds` whatever the CPU, reporting progress, so a test can kill or
  stop a worker in the middle of a job or run past the job's time limit deterministically.
- `oom`: raises CUDA's out-of-memory error, as a too-large batch does on a GPU. On a machine with
  CUDA it first really tries to allocate far more than the GPU has.
"""
from __future__ import annotations

import time

import torch
from pydantic import BaseModel, ConfigDict, Field

from saliency.methods.base import Classifier, MethodOutput, Progress, register


class SleepyParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seconds: float = Field(1.0, ge=0, le=600)


@register("sleepy", SleepyParams, "black-box", "test: sleeps `seconds`, then returns a flat map")
def sleepy(model: Classifier, inputs: torch.Tensor, target: torch.Tensor, params: SleepyParams,
           progress: Progress | None = None) -> MethodOutput:
    end = time.monotonic() + params.seconds
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(0.05, left))
        if progress is not None:
            progress(1.0 - max(left, 0.0) / max(params.seconds, 1e-9))
    return MethodOutput(maps=torch.ones(inputs.shape[0], *inputs.shape[-2:]), queries=1)


class OomParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


@register("oom", OomParams, "black-box", "test: runs out of GPU memory")
def oom(model: Classifier, inputs: torch.Tensor, target: torch.Tensor, params: OomParams,
        progress: Progress | None = None) -> MethodOutput:
    if torch.cuda.is_available():
        free, _ = torch.cuda.mem_get_info()
        torch.empty(free * 4, dtype=torch.uint8, device="cuda")  # raises OutOfMemoryError
    raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 80.00 GiB (simulated)")
