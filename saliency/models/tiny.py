"""A small CNN trained in seconds on planted-object images: the model of tests and benchmarks.

It is exported like any user model (torch.export + labels + TOML), so the code path that serves it
is the one that serves a user's own model; `export_tiny_onnx` writes it as a user's ONNX file too.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from saliency.data.planted import CLASSES, make_planted

MEAN = (0.5, 0.5, 0.5)
STD = (0.25, 0.25, 0.25)


class TinyCNN(nn.Module):
    def __init__(self, classes: int = len(CLASSES)) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
        )
        self.head = nn.Linear(32, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Global max pooling: the class evidence is wherever the object is.
        return self.head(self.features(x).amax(dim=(2, 3)))


def train_tiny(size: int = 32, n: int = 3000, epochs: int = 4, seed: int = 0) -> tuple[TinyCNN, float]:
    """Train on seed-derived data; returns the model and its accuracy on 500 held-out images."""
    torch.manual_seed(seed)
    data = make_planted(n, size=size, seed=seed, empty_rate=0.25)
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    x = (torch.from_numpy(data.images) - mean) / std
    y = torch.from_numpy(data.labels)
    model = TinyCNN()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(n, generator=gen).split(64):
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    test = make_planted(500, size=size, seed=seed + 10_000, empty_rate=0.25)
    with torch.inference_mode():
        pred = model((torch.from_numpy(test.images) - mean) / std).argmax(1)
    return model.eval(), float((pred.numpy() == test.labels).mean())


def export_tiny(model: TinyCNN, out_dir: Path, name: str = "tiny", size: int = 32) -> Path:
    """Write a torch.export archive, labels and a models.toml declaring it; returns the TOML path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    batch = torch.export.Dim("batch", min=1, max=1 << 20)
    program = torch.export.export(model.eval(), (torch.zeros(2, 3, size, size),),
                                  dynamic_shapes=({0: batch},))
    torch.export.save(program, str(out_dir / f"{name}.pt2"))
    (out_dir / f"{name}_labels.txt").write_text("\n".join(CLASSES) + "\n")
    toml = out_dir / "models.toml"
    toml.write_text(
        f'[models.{name}]\npath = "{name}.pt2"\nlabels = "{name}_labels.txt"\n'
        f"input_size = [{size}, {size}]\nmean = {list(MEAN)}\nstd = {list(STD)}\n"
        f'description = "tiny CNN on planted-object images ({size} px)"\n'
    )
    return toml


def export_tiny_onnx(model: TinyCNN, out_dir: Path, name: str = "tiny", size: int = 32) -> Path:
    """Write `<name>.onnx` as a user would (logits out, a free batch axis); returns its path."""
    import warnings

    path = out_dir / f"{name}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's notes on its own internals
        torch.onnx.export(model.eval(), (torch.zeros(2, 3, size, size),), str(path), dynamo=True,
                          verbose=False, input_names=["image"], output_names=["logits"], external_data=False,
                          dynamic_shapes=({0: torch.export.Dim("batch")},))
    return path
