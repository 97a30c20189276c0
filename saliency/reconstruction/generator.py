"""The generator declared beside a classifier (`generator = "file"` in models.toml), loaded once.

Two generator kinds: "dcgan", z -> image (Yeh et al.'s setting), and "inpainter", (z, context,
mask) -> image (inpainter.py). Files: the checkpoints `saliency train-generator --kind dcgan` or
`--kind inpainter` writes (plain state dicts + config, read with torch.load(weights_only=True);
the file names its kind), or a TorchScript module mapping z (N, nz) to images (N, 3, S, S) in
[-1, 1] with an integer attribute `nz` and, optionally, a `discriminator` submodule returning
logits (needed only for the prior term), which is of kind "dcgan". A models-file entry may say
which kind it expects (`generator_kind`); a file of the other kind is then refused by name.
"""
from __future__ import annotations

import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from saliency.errors import ModelUnavailable, NoGenerator
from saliency.models.spec import LoadedModel
from saliency.reconstruction.checkpoint import read as read_checkpoint
from saliency.reconstruction.dcgan import pair_from_state
from saliency.reconstruction.inpainter import FORMAT as INPAINTER_FORMAT
from saliency.reconstruction.inpainter import load_inpainter

_loaded: dict[tuple[str, str], "LoadedGenerator"] = {}
_lock = threading.Lock()


@dataclass
class LoadedGenerator:
    generator: nn.Module  # z -> images in [-1, 1], eval mode, on `device`
    discriminator: nn.Module | None  # images -> logits, or None when the file has none
    size: int  # the generator's square output size
    nz: int
    device: torch.device
    path: Path
    kind: str = "dcgan"  # "dcgan": generator(z); "inpainter": generator(z, x, known)


def _is_torchscript(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            return any("/code/" in name for name in zf.namelist())
    except zipfile.BadZipFile:
        return False


def load_generator(path: Path, device: torch.device | str = "cpu", kind: str | None = None) -> LoadedGenerator:
    """Load a generator file once per (path, device) in this process; with `kind`, the file must be
    of that kind."""
    dev = torch.device(device)
    key = (str(Path(path).resolve()), str(dev))
    with _lock:
        if key not in _loaded:
            _loaded[key] = _load(Path(path), dev)
        loaded = _loaded[key]
    if kind is not None and loaded.kind != kind:
        raise ModelUnavailable(f"generator file {path} is of kind {loaded.kind!r}, but its model declares "
                               f"generator_kind = {kind!r}")
    return loaded


def _load(path: Path, dev: torch.device) -> LoadedGenerator:
    if not path.exists():
        raise ModelUnavailable(f"generator file {path} does not exist")
    if _is_torchscript(path):
        g = torch.jit.load(str(path), map_location="cpu").eval()
        if not hasattr(g, "nz"):
            raise ModelUnavailable(f"TorchScript generator {path} has no integer attribute `nz`")
        nz = int(g.nz)
        d = getattr(g, "discriminator", None)
        with torch.no_grad():
            size = int(g(torch.zeros(1, nz)).shape[-1])
        kind = "dcgan"
    else:
        try:
            state = read_checkpoint(path)
            kind = "inpainter" if state.get("format") == INPAINTER_FORMAT else "dcgan"
            cfg, g, d = load_inpainter(state) if kind == "inpainter" else pair_from_state(state)
        except Exception as exc:  # noqa: BLE001 - any unreadable file is reported the same way
            raise ModelUnavailable(f"generator file {path} is neither a saliency DCGAN or in-painter "
                                   f"checkpoint nor TorchScript ({type(exc).__name__}: {exc})") from None
        nz, size = cfg.nz, cfg.image_size
    g = g.to(dev)
    d = d.to(dev).eval() if d is not None else None
    return LoadedGenerator(g, d, size, nz, dev, path, kind)


def generator_for(model: LoadedModel) -> LoadedGenerator:
    """The model's declared generator on the model's device; NoGenerator when it declares none."""
    path = model.spec.generator
    if path is None:
        raise NoGenerator(f"model {model.name!r} declares no generator, so its salient region cannot "
                          "be reconstructed; add `generator = \"file\"` to its entry in models.toml "
                          "(train one with `saliency train-generator --kind inpainter`)")
    return load_generator(path, model.device, model.spec.generator_kind)
