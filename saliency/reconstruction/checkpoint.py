"""Generator checkpoints, one format for both kinds: {"format", "config", "generator",
"discriminator", ...training state}. Written atomically, read with weights_only=True, so a file
from elsewhere can hold tensors and plain values only, never code."""
from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, TypeVar

import torch
from torch import nn

C = TypeVar("C")


def save(path: Path, fmt: str, cfg: Any, g: nn.Module, d: nn.Module, extra: dict[str, Any] | None = None) -> None:
    """Write atomically (temp file + rename) so an interrupted run never leaves half a file."""
    state = {"format": fmt, "config": asdict(cfg), "generator": g.state_dict(),
             "discriminator": d.state_dict(), **(extra or {})}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def read(path: Path) -> dict[str, Any]:
    return torch.load(path, map_location="cpu", weights_only=True)


def pair(state: dict[str, Any], config: Callable[..., C], generator: Callable[[C], nn.Module],
         discriminator: Callable[[C], nn.Module]) -> tuple[C, nn.Module, nn.Module]:
    """The trained pair of a checkpoint, in eval mode (a DCGAN's BatchNorm then uses its running
    statistics, so samples do not depend on the batch)."""
    cfg = config(**state["config"])
    g, d = generator(cfg), discriminator(cfg)
    g.load_state_dict(state["generator"])
    d.load_state_dict(state["discriminator"])
    return cfg, g.eval(), d.eval()
