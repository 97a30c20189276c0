"""The options of every builtin method, as pydantic models: validated the same way by the API
(torch-free) and by the library before a method runs. Each method's module in saliency/methods/
says what the options mean in detail."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

# Images per OISE forward pass for a plain function as the model; a loaded model's runtime has a
# chunk measured on its device instead (saliency.runtimes.calibrate).
OISE_DEFAULT_CHUNK = 256
# The same on a CPU, where bigger batches run no faster (docs/benchmarks.md, Throughput) and the
# method reports progress, and so checks for cancel, once per forward pass: 16 EfficientNet-Lite0
# images take about a second on two cores, 256 took 13 to 21 s (docs/benchmarks.md, Responsiveness).
OISE_CPU_CHUNK = 16


def oise_chunk(device_type: str) -> int:
    """OISE's default forward-pass chunk on a device of this type ("cpu", "cuda", ...)."""
    return OISE_CPU_CHUNK if device_type == "cpu" else OISE_DEFAULT_CHUNK


class Sampling(BaseModel):
    """What OISE and RISE share: a fixed budget or the adaptive stopping rule, and the groups of
    independent chains or masks that measure how stable the map is (saliency.methods.uncertainty)."""

    model_config = ConfigDict(extra="forbid")

    target_stability: float | None = Field(
        None, gt=0, lt=1, description="adaptive: stop at the first round whose map reaches this stability "
        "(split-half reliability, 0..1), `queries` then unused; null: spend exactly `queries`")
    max_queries: int = Field(8000, ge=1, le=1_000_000,
                             description="adaptive: the query cap per image when the target is not reached")
    round_queries: int = Field(500, ge=1, le=1_000_000,
                               description="adaptive: queries per image between stability checks")
    groups: int = Field(8, ge=2, le=64, multiple_of=2,
                        description="independent groups of chains (OISE) or masks (RISE) the stability "
                        "and the uncertainty map are measured from; never changes the map")

    @property
    def adaptive(self) -> bool:
        return self.target_stability is not None

    @property
    def budget(self) -> int:
        """The most queries per image this run may spend (before rounding up to whole steps)."""
        return self.max_queries if self.adaptive else self.queries  # type: ignore[attr-defined]


class OiseParams(Sampling):
    """Defaults are the authors' except `chains`, `queries` and `weighting` (authors: 1 chain, 5000
    queries, unweighted); docs/benchmarks.md has the numbers they were chosen by."""

    model_config = ConfigDict(extra="forbid")

    queries: int = Field(4000, ge=1, le=1_000_000, description="model queries per image")
    chains: int = Field(500, ge=1, le=4096, description="independent chains run side by side")
    grid: int = Field(8, ge=2, le=64, description="mask cells per side (s)")
    refine_grid: int | None = Field(
        None, ge=2, le=64, description="coarse to fine: cells per side after `refine_share` of the steps "
        "(each cell's state carried to the cells it covers); null keeps `grid` throughout")
    refine_share: float = Field(0.5, gt=0, lt=1, description="share of the steps run at `grid` before "
                                "`refine_grid`; of the cap `max_queries` when adaptive")
    p_init: float = Field(0.3, gt=0, lt=1, description="probability a cell starts on")
    lr: float = Field(0.02, ge=0, le=1, description="regulariser step on cells that changed")
    baseline: Literal["mean", "blur"] = Field(
        "mean", description="masked pixels become the dataset mean colour or a blurred copy")
    weighting: Literal["none", "score"] = Field(
        "score", description="none: S += next mask (authors' code); score: S += p * queried mask")
    tv_weight: float = Field(0.0, ge=0, le=1, description="blend of the diagram's TV update; 0 = code")
    postprocess: Literal["authors", "minmax", "none"] = Field(
        "authors", description="authors: S - mean_offset*mean(S), clamp at 0, / max")
    mean_offset: float = Field(0.96, ge=0, le=1, description="the factor in S - offset x mean(S)")
    batch_size: int | None = Field(None, ge=1, description="images per forward pass (never changes the "
                                   "map); default the runtime's chunk, measured on its device, or for a "
                                   f"plain function {OISE_CPU_CHUNK} on a CPU, {OISE_DEFAULT_CHUNK} on a GPU")
    seed: int = Field(0, ge=0, description="random seed; equal seeds give equal maps")

    @classmethod
    def authors(cls, **overrides: object) -> "OiseParams":
        """The published variant: one chain of 5000 queries, unweighted accumulation."""
        return cls(**{"chains": 1, "queries": 5000, "weighting": "none", **overrides})


class RiseParams(Sampling):
    queries: int = Field(4000, ge=1, le=1_000_000, description="random masks (N) per image")
    grid: int = Field(8, ge=2, le=64, description="mask cells per side (s)")
    p_keep: float = Field(0.5, gt=0, lt=1, description="probability a cell is kept")
    baseline: Literal["mean", "blur"] = Field(
        "mean", description="masked pixels become the dataset mean colour or a blurred copy")
    batch_size: int = Field(64, ge=1, description="masks per forward pass")
    seed: int = Field(0, ge=0, description="random seed; equal seeds give equal maps")


class OcclusionParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    window: int | None = Field(None, ge=1, description="patch side in pixels; default side/7 (32 at 224 px)")
    stride: int | None = Field(None, ge=1, description="pixels between windows; default window/2")
    baseline: Literal["mean", "blur"] = Field(
        "mean", description="the patch shows the dataset mean colour or a blurred copy")
    batch_size: int = Field(64, ge=1, description="window positions per forward pass")


class IntegratedGradientsParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    steps: int = Field(50, ge=1, le=10_000, description="points on the path (Captum n_steps)")
    baseline: Literal["mean", "blur"] = Field(
        "mean", description="path start: the dataset mean colour or a blurred copy of the image")
    rule: Literal["gausslegendre", "riemann_trapezoid", "riemann_left", "riemann_right",
                  "riemann_middle"] = Field("gausslegendre", description="quadrature (Captum method)")
    internal_batch_size: int = Field(16, ge=1, description="path points per forward/backward pass")
    absolute: bool = Field(False, description="sum |attribution| over channels instead of the signed sum")


class GradCamParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    layer: str | None = Field(None, min_length=1, max_length=200,
                              description="layer name, e.g. 'conv_head'; default the last Conv2d")


class ExtremalParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    areas: list[Annotated[float, Field(gt=0, lt=1)]] = Field(
        [0.1], min_length=1, max_length=8,
        description="shares of the image a mask keeps (a); one mask each, the map is their mean")
    variant: Literal["preserve", "delete"] = Field("preserve", description="preserve or delete game")
    iterations: int = Field(300, ge=1, le=10_000, description="optimisation steps")
    lr: float = Field(0.05, gt=0, le=1, description="Adam learning rate on the mask parameters")
    area_weight: float = Field(300.0, ge=0, description="λ at the first iteration")
    step: int | None = Field(None, ge=1, description="pixels between mask parameters; default side/32")
    sigma: float | None = Field(None, gt=0, description="mask smoothness in pixels; default 3 x step")
    levels: int = Field(8, ge=2, le=64, description="blur pyramid levels")
    max_blur: float | None = Field(None, gt=0, description="blur sigma where m = 0; default side x 20/224")
    jitter: bool = Field(True, description="mirror the perturbed image on every other iteration")
