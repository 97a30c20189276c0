"""The benchmark's tiny CNN: trained once per set of training arguments and kept on disk.

Cache: $SALIENCY_CACHE_DIR, else $XDG_CACHE_HOME/saliency, else ~/.cache/saliency; one folder per
(size, n, epochs, seed, torch version) under tiny/, holding the export_tiny files and the
held-out accuracy. The model is loaded from the exported file, the path that serves user models.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from saliency.cachedir import cache_root
from saliency.data.planted import CLASSES
from saliency.models.config import load_file
from saliency.models.spec import LoadedModel, ModelSpec
from saliency.models.tiny import MEAN, STD, export_tiny, train_tiny


def cached_tiny(size: int = 32, n: int = 3000, epochs: int = 4, seed: int = 0,
                device: torch.device | str = "cpu", root: Path | None = None) -> tuple[LoadedModel, float]:
    """The tiny model for these training arguments (trained now if not cached) and its accuracy."""
    key = f"size{size}-n{n}-e{epochs}-seed{seed}-torch{torch.__version__}"
    folder = (root or cache_root()) / "tiny" / key
    info = folder / "accuracy.json"
    if not info.exists():
        model, accuracy = train_tiny(size=size, n=n, epochs=epochs, seed=seed)
        export_tiny(model, folder, name="tiny", size=size)
        info.write_text(json.dumps({"accuracy": accuracy}) + "\n")  # written last: marks a complete entry
    spec = ModelSpec(name="tiny", build=lambda: load_file(folder / "tiny.pt2"), labels=lambda: list(CLASSES),
                     input_size=(size, size), mean=MEAN, std=STD,
                     description=f"tiny CNN on planted objects ({key})", source=str(folder),
                     weights_file=lambda: folder / "tiny.pt2")
    return LoadedModel(spec, torch.device(device)), float(json.loads(info.read_text())["accuracy"])
