"""What the core tells whoever counts (the API's Prometheus metrics), without knowing who counts."""
from __future__ import annotations

from typing import Protocol


class Events(Protocol):
    def submitted(self, model: str, method: str) -> None: ...

    def canceled(self, model: str, method: str) -> None: ...

    def replayed(self) -> None: ...


class NoEvents:
    def submitted(self, model: str, method: str) -> None:
        pass

    def canceled(self, model: str, method: str) -> None:
        pass

    def replayed(self) -> None:
        pass
