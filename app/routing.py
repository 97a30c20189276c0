"""The API's path templates and the methods each allows, read from its own OpenAPI document: for
answers given before or without routing (a 401 or 429 of the key check, a 405), which must still
name their route (app.middleware.metrics) or list every allowed method (app.errors)."""
from __future__ import annotations

import re
from dataclasses import dataclass

from fastapi import FastAPI
from starlette.types import Scope

STATIC = "/static/{path}"  # the web page's files (app.routers.webpage), outside the schema


def route_path(scope: Scope) -> str:
    """The path as the routes know it: without the prefix the server is told it is served under
    (SALIENCY_ROOT_PATH, which uvicorn puts in front of every path)."""
    path, root = scope["path"], scope.get("root_path", "")
    return (path[len(root):] or "/") if root and path.startswith(root) else path


@dataclass(frozen=True)
class Template:
    path: str  # e.g. /jobs/{job_id}
    pattern: re.Pattern[str]
    methods: frozenset[str]


class Templates:
    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self._table: list[Template] | None = None

    def table(self) -> list[Template]:
        if self._table is None:  # the schema is complete once the app serves
            self._table = [Template(path, re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path)) + "$"),
                                    frozenset(m.upper() for m in ops))
                           for path, ops in self.app.openapi()["paths"].items()]
        return self._table

    def route(self, path: str) -> str | None:
        """The template a path belongs to (the first that matches), None for none."""
        if path.startswith("/static/"):
            return STATIC
        return next((t.path for t in self.table() if t.pattern.match(path)), None)

    def allowed(self, path: str) -> list[str]:
        """Every method some route of this path allows, sorted."""
        return sorted({m for t in self.table() if t.pattern.match(path) for m in t.methods})
