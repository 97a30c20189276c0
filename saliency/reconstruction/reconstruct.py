"""Variations of the salient region, drawn from a generator, and how often the model's outcome held.

One call: saliency map -> salient box -> hole (a share of the box) -> latent search in the
model's generator (a DCGAN or an in-painter, see search.py) -> K composites at the image's
resolution -> the classifier on each.

Resolutions: the search runs at the generator's size S. The whole image is resized to S x S (like
the classifier's preprocessing, no crop) after the hidden pixels are replaced by the mean colour of
the known ring around the hole, so that resizing cannot carry hidden content into known pixels;
the hole is mapped to S x S rounding outwards, so it covers every hidden pixel. The in-fill is
then resampled at the image's own pixels and pasted into the hole at full resolution (see
composite.py). The outcome term, when used, classifies the S x S composite resized to the
classifier's input size.

The reported outcome is measured on what a user sees: each variation is rounded to 8 bits and
classified through the model's own preprocessing. "Held" means its top-1 class equals the top-1
class of the original image.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from saliency.errors import InvalidParams
from saliency.images import open_image
from saliency.models import LoadedModel, load_model
from saliency.reconstruction.composite import composite, sample_fill
from saliency.reconstruction.generator import LoadedGenerator, generator_for
from saliency.reconstruction.metrics import NEAR_COPY_RMS, distances_to, diversity
from saliency.catalog.reconstruction import ReconstructionParams, parse_params
from saliency.reconstruction.region import Box, hole_box, salient_box
from saliency.reconstruction.search import SearchOptions, latent_search

Progress = Callable[[float], None]
CLASSIFY_BATCH = 64


@dataclass
class ClassRef:
    index: int
    label: str


@dataclass
class Variation:
    index: int
    predicted: ClassRef  # the classifier's top-1 class on the variation
    target_probability: float
    held: bool  # top-1 unchanged from the original image
    context_loss: float  # weighted context loss of its latent, at the generator's size
    distance_to_original: float  # RMS difference from the hidden pixels inside the hole
    near_copy: bool  # distance_to_original < the near-copy floor


@dataclass
class Reconstruction:
    model: str
    target: ClassRef
    target_probability: float  # on the original image
    original_top1: ClassRef
    salient_box: Box
    hole: Box
    crop: Box  # the region `patches` cover: the hole and its seam ring
    view: Box  # the region the pictures show: the salient box in its context
    variations: list[Variation]
    patches: np.ndarray  # (K, h, w, 3) uint8 over `crop`
    image: np.ndarray = field(repr=False)  # (H, W, 3) uint8, the original
    acceptance: float = 0.0  # share of variations whose top-1 held
    mean_target_probability: float = 0.0
    diversity: float = 0.0  # mean pairwise RMS difference inside the hole
    near_copies: int = 0
    params: dict[str, Any] = field(default_factory=dict)
    generator_size: int = 0
    generator_kind: str = "dcgan"
    seconds: float = 0.0
    device: str = "cpu"

    def variation_image(self, k: int, region: Box | None = None) -> Image.Image:
        """Variation k at full resolution: the whole image, or `region` of it."""
        out = self.image.copy()
        c = self.crop
        out[c.y0:c.y1, c.x0:c.x1] = self.patches[k]
        r = region or Box(0, 0, out.shape[1], out.shape[0])
        return Image.fromarray(out[r.y0:r.y1, r.x0:r.x1])

    def summary(self) -> dict[str, Any]:
        """Everything but the pixels, JSON-ready."""
        out = asdict(self)
        for key in ("patches", "image"):
            out.pop(key)
        for key in ("salient_box", "hole", "crop", "view"):
            out[key] = getattr(self, key).as_list()
        out["near_copy_floor"] = NEAR_COPY_RMS
        return out


@dataclass
class _Prepared:
    """One image made ready for the search."""

    image: np.ndarray  # (H, W, 3) uint8
    x: torch.Tensor  # (3, H, W) in [0, 1] on the device
    x_gen: torch.Tensor  # (3, S, S) in [-1, 1], hidden pixels neutralised
    known_gen: torch.Tensor  # (1, S, S), 1 on known pixels
    box: Box
    hole: Box
    crop: Box
    view: Box
    feather: int
    target: int
    top1: int
    target_probability: float


def reconstruct(image: Image.Image | str | Path | bytes, saliency: np.ndarray,
                model: str | LoadedModel, target: int | str | None = None,
                params: dict[str, Any] | ReconstructionParams | None = None,
                progress: Progress | None = None) -> Reconstruction:
    """Reconstruct the salient region of one image. NoGenerator, InvalidParams or UnknownClass are
    raised before any work; an exception raised by `progress` stops the search and propagates."""
    return reconstruct_many([image], [saliency], model, [target], params, progress)[0]


def reconstruct_many(images: list[Any], saliencies: list[np.ndarray], model: str | LoadedModel,
                     targets: list[int | str | None] | None = None,
                     params: dict[str, Any] | ReconstructionParams | None = None,
                     progress: Progress | None = None) -> list[Reconstruction]:
    """Several images in one batched search (N * K latents per generator pass)."""
    start = time.perf_counter()
    net = load_model(model) if isinstance(model, str) else model
    gen = generator_for(net)
    p = parse_params(params)
    if p.outcome_weight > 0 and not net.spec.gradients:
        raise InvalidParams("params.outcome_weight", f"the outcome term needs gradients, which model "
                                                     f"{net.name!r} does not offer; use 0")
    targets = targets or [None] * len(images)
    prepared = [_prepare(img, sal, net, gen, t, p) for img, sal, t in zip(images, saliencies, targets)]
    k = p.variations
    x_gen = torch.stack([q.x_gen for q in prepared])
    known = torch.stack([q.known_gen for q in prepared])
    target_t = torch.tensor([q.target for q in prepared], device=gen.device)
    opts = SearchOptions(steps=p.steps, lr=p.lr, optimizer=p.optimizer, prior_weight=p.prior_weight,
                         outcome_weight=p.outcome_weight, window=p.window,
                         diversity_weight=p.diversity_weight, diversity_margin=p.diversity_margin)
    found = latent_search(gen.generator, gen.discriminator, x_gen, known, k, opts, seed=p.seed,
                          outcome=_outcome_fn(net) if p.outcome_weight > 0 else None, target=target_t,
                          blend=_seam_blend(prepared, k, p.feather),
                          progress=(lambda f: progress(0.9 * f)) if progress else None)
    out = []
    for i, q in enumerate(prepared):
        fake = found.fake[i * k:(i + 1) * k] * 0.5 + 0.5
        out.append(_finish(q, net, gen, fake, found.context[i * k:(i + 1) * k], p))
        if progress:
            progress(0.9 + 0.1 * (i + 1) / len(prepared))
    seconds = time.perf_counter() - start
    for r in out:
        r.seconds = seconds / len(out)
    return out


def _prepare(image: Any, saliency: np.ndarray, net: LoadedModel, gen: LoadedGenerator,
             target: int | str | None, p: ReconstructionParams) -> _Prepared:
    img = (image if isinstance(image, Image.Image) else open_image(image)).convert("RGB")
    pixels = np.array(img, dtype=np.uint8)
    height, width = pixels.shape[:2]
    sal = np.asarray(saliency, dtype=np.float32)
    if sal.shape != (height, width):
        sal = F.interpolate(torch.from_numpy(sal)[None, None], size=(height, width), mode="bilinear",
                            align_corners=False)[0, 0].numpy()
    with torch.inference_mode():
        probs = net(net.preprocess(img))[0].float()
    idx = net.resolve_target(target, probs)
    box = salient_box(sal, p.threshold)
    hole = hole_box(box, p.hidden)
    feather = round(p.feather * min(hole.width, hole.height))
    crop = hole.grown(feather, feather, width, height)
    view = box.grown(box.width, box.height, width, height)
    x = torch.from_numpy(pixels).to(gen.device).permute(2, 0, 1).float() / 255
    size = gen.size
    hole_gen = hole.scaled(size / width, size / height, size, size)
    known_gen = torch.from_numpy(~hole_gen.mask(size, size)).float()[None].to(gen.device)
    x_gen = F.interpolate(_neutralise(x, hole)[None], size=(size, size), mode="bilinear",
                          antialias=True, align_corners=False)[0] * 2 - 1
    return _Prepared(pixels, x, x_gen, known_gen, box, hole, crop, view, feather, idx,
                     int(probs.argmax()), float(probs[idx]))


def _neutralise(x: torch.Tensor, hole: Box) -> torch.Tensor:
    """x with the hole set to the mean colour of the known ring around it (grey if there is none)."""
    height, width = x.shape[-2:]
    margin = max(2, min(hole.width, hole.height) // 4)
    ring = hole.grown(margin, margin, width, height).mask(height, width) & ~hole.mask(height, width)
    ring_t = torch.from_numpy(ring).to(x.device)
    colour = x[:, ring_t].mean(1) if ring.any() else torch.full((3,), 0.5, device=x.device)
    out = x.clone()
    out[:, hole.y0:hole.y1, hole.x0:hole.x1] = colour[:, None, None]
    return out


def _seam_blend(prepared: list[_Prepared], k: int, feather: float) -> Callable[[torch.Tensor], torch.Tensor]:
    """G(z) of all N * K latents -> their composites at the generator's size, with the same seam
    as the full-resolution composite (feather scaled to the generator's hole)."""
    size = prepared[0].x_gen.shape[-1]
    whole = Box(0, 0, size, size)
    parts = []
    for q in prepared:
        height, width = q.image.shape[:2]
        hole = q.hole.scaled(size / width, size / height, size, size)
        parts.append((q.x_gen * 0.5 + 0.5, hole, round(feather * min(hole.width, hole.height))))

    def blend(fake: torch.Tensor) -> torch.Tensor:
        out = [composite(x01, fake[i * k:(i + 1) * k] * 0.5 + 0.5, hole, whole, f)
               for i, (x01, hole, f) in enumerate(parts)]
        return torch.cat(out) * 2 - 1
    return blend


def _outcome_fn(net: LoadedModel) -> Callable[[torch.Tensor], torch.Tensor]:
    """Generator-size composites in [-1, 1] -> the classifier's log-probabilities (differentiable)."""
    h, w = net.spec.input_size
    mean = torch.tensor(net.spec.mean, device=net.device).view(1, 3, 1, 1)
    std = torch.tensor(net.spec.std, device=net.device).view(1, 3, 1, 1)

    def fn(composite_gen: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(composite_gen * 0.5 + 0.5, size=(h, w), mode="bilinear", antialias=True,
                          align_corners=False)
        out = net.module((x - mean) / std)
        return out.log_softmax(1) if net.spec.output == "logits" else out.clamp_min(1e-12).log()
    return fn


def _finish(q: _Prepared, net: LoadedModel, gen: LoadedGenerator, fake: torch.Tensor,
            context: torch.Tensor, p: ReconstructionParams) -> Reconstruction:
    height, width = q.image.shape[:2]
    fill = sample_fill(fake, q.crop, height, width)
    patches = composite(q.x, fill, q.hole, q.crop, q.feather)
    patches_u8 = (patches * 255).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    probs = _classify(net, q.image, patches_u8, q.crop)
    inside = torch.from_numpy(q.hole.mask(height, width)[q.crop.y0:q.crop.y1, q.crop.x0:q.crop.x1])
    shown = torch.from_numpy(patches_u8).permute(0, 3, 1, 2).float() / 255
    original = q.x[:, q.crop.y0:q.crop.y1, q.crop.x0:q.crop.x1].cpu()
    dist = distances_to(shown, original, inside)
    labels = net.labels
    variations = [
        Variation(index=j, predicted=ClassRef(int(c), labels[int(c)]),
                  target_probability=float(probs[j, q.target]), held=int(c) == q.top1,
                  context_loss=float(context[j]), distance_to_original=float(dist[j]),
                  near_copy=bool(dist[j] < NEAR_COPY_RMS))
        for j, c in enumerate(probs.argmax(1).tolist())
    ]
    k = len(variations)
    return Reconstruction(
        model=net.name, target=ClassRef(q.target, labels[q.target]), target_probability=q.target_probability,
        original_top1=ClassRef(q.top1, labels[q.top1]), salient_box=q.box, hole=q.hole, crop=q.crop,
        view=q.view, variations=variations, patches=patches_u8, image=q.image,
        acceptance=sum(v.held for v in variations) / k,
        mean_target_probability=float(np.mean([v.target_probability for v in variations])),
        diversity=diversity(shown, inside), near_copies=sum(v.near_copy for v in variations),
        params=p.model_dump(), generator_size=gen.size, generator_kind=gen.kind, device=str(gen.device),
    )


def _classify(net: LoadedModel, image: np.ndarray, patches: np.ndarray, crop: Box) -> torch.Tensor:
    """Each variation (the original with patch k pasted) through the model's own preprocessing."""
    out = []
    canvas = image.copy()
    for chunk in range(0, len(patches), CLASSIFY_BATCH):
        batch = []
        for patch in patches[chunk:chunk + CLASSIFY_BATCH]:
            canvas[crop.y0:crop.y1, crop.x0:crop.x1] = patch
            batch.append(net.preprocess(Image.fromarray(canvas)))
        with torch.inference_mode():
            out.append(net(torch.cat(batch)).float().cpu())
    return torch.cat(out)
