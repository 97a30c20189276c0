"""The options of a reconstruction, validated like a method's (errors name the field)."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from saliency.errors import InvalidParams


class ReconstructionParams(BaseModel):
    """Defaults follow Yeh et al. / the ICPR authors (K = 64, 1000 steps, lr 0.01, 50% hidden), except
    the spread term, on by default: without it the K variations came out as alike as near-copies
    (docs/benchmarks.md, Reconstruction)."""

    model_config = ConfigDict(extra="forbid")

    variations: int = Field(64, ge=1, le=1024, description="latent vectors searched jointly (K)")
    hidden: float = Field(0.5, gt=0, le=1, description="share of the salient box's area hidden")
    threshold: float = Field(0.5, gt=0, le=1, description="salient region: map >= threshold * max")
    steps: int = Field(1000, ge=1, le=100_000, description="latent search iterations")
    lr: float = Field(0.01, gt=0, le=10, description="step of the optimiser on the latent vectors")
    optimizer: Literal["adam", "nesterov"] = Field("adam", description="adam, or SGD with Nesterov momentum 0.9")
    prior_weight: float = Field(0.01, ge=0, le=100, description="lambda of the discriminator prior")
    outcome_weight: float = Field(0.0, ge=0, le=1000,
                                  description="weight of -log P(target | x_rec); 0 = the paper's objective")
    diversity_weight: float = Field(1.0, ge=0, le=1000,
                                    description="weight of the spread term that keeps the K in-fills "
                                                "apart; 0 = the paper's objective")
    # 0.04, not 0.1: on planted objects at 50% hidden it keeps the class in 0.93 of variations
    # (0.84 at 0.1) while they still differ 3.4 times as much as near-copies (docs/benchmarks.md).
    diversity_margin: float = Field(0.04, gt=0, le=1, description="RMS difference (pixels in [0, 1]) "
                                                                  "beyond which two in-fills are apart")
    window: int | None = Field(None, ge=3, le=1001,
                               description="context-weight window at the generator's size (odd); "
                                           "default the authors' 70/224 of it")
    feather: float = Field(0.25, ge=0, le=1, description="seam width as a share of the hole's shorter side")
    seed: int = Field(0, ge=0, description="equal seeds give equal variations")

    @field_validator("window")
    @classmethod
    def _odd(cls, v: int | None) -> int | None:
        if v is not None and v % 2 == 0:
            raise ValueError("must be odd, so that the window is centred")
        return v


def parse_params(raw: dict[str, Any] | ReconstructionParams | None) -> ReconstructionParams:
    if isinstance(raw, ReconstructionParams):
        return raw
    if raw is not None and not isinstance(raw, dict):
        raise InvalidParams("params", "must be a JSON object")
    try:
        return ReconstructionParams.model_validate(raw or {})
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "params"
        raise InvalidParams(f"params.{field}", err["msg"]) from None
