"""Where the library keeps what it computes once per machine (benchmark models, runtime exports)."""
from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """$SALIENCY_CACHE_DIR, else $XDG_CACHE_HOME/saliency, else ~/.cache/saliency."""
    if os.environ.get("SALIENCY_CACHE_DIR"):
        return Path(os.environ["SALIENCY_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "saliency"
