"""How a request names the class to explain: an index, or a label matched case-insensitively."""
from __future__ import annotations

import difflib

from saliency.errors import UnknownClass


def resolve_target(labels: list[str], target: int | str, model: str = "") -> int:
    """A class index or a label (case-insensitive); unknown ones raise with close suggestions."""
    if isinstance(target, int) or target.strip().lstrip("-").isdigit():
        idx = int(target)
        if not 0 <= idx < len(labels):
            raise UnknownClass(f"class index {idx} out of range 0..{len(labels) - 1}")
        return idx
    lowered = [label.lower() for label in labels]
    key = target.strip().lower()
    if key in lowered:
        return lowered.index(key)
    close = difflib.get_close_matches(key, lowered, n=3)
    hint = f"; did you mean {', '.join(repr(labels[lowered.index(c)]) for c in close)}?" if close else ""
    raise UnknownClass(f"unknown class {target!r} for model {model}{hint}")
