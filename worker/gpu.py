"""Out-of-memory on the GPU: the job fails with a readable reason, the worker frees the memory
the failed job left in PyTorch's cache and goes on with the next job."""
from __future__ import annotations

import gc
import logging

import torch

log = logging.getLogger("worker.gpu")
_pending_release = False


def is_oom(exc: BaseException) -> bool:
    """CUDA's allocator error, also when it reaches us wrapped (TorchScript re-raises it as a
    RuntimeError carrying the same message)."""
    return isinstance(exc, torch.cuda.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and "CUDA out of memory" in str(exc))


def oom_message(exc: BaseException) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else "CUDA out of memory"
    return ("the GPU ran out of memory for this job; try fewer chains or a smaller batch_size in "
            f"params, or a smaller model ({first[:200]})")


def note_failure(exc: BaseException) -> None:
    """Called from the job: remember to release the cache once the job is over and its frames
    (which hold the tensors) are gone."""
    global _pending_release
    if is_oom(exc):
        _pending_release = True


def release_after_job() -> bool:
    """Called by the worker between jobs. Returns whether a release was due."""
    global _pending_release
    if not _pending_release:
        return False
    _pending_release = False
    gc.collect()
    if torch.cuda.is_initialized():
        before = torch.cuda.memory_reserved()
        torch.cuda.empty_cache()
        log.warning("out of memory in the last job: released %.0f MiB of cached GPU memory",
                    (before - torch.cuda.memory_reserved()) / 2**20)
    else:
        log.warning("out of memory in the last job; no CUDA cache to release")
    return True
