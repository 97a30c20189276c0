"""HTTP request metrics of the API process: every answer counted and timed by method, route
template and status, including those the other middleware give before routing (401, 413, 429).

    http_requests_total{method,route,status}
    http_request_duration_seconds{method,route,status}   histogram

The names are the common ones (as HTTP instrumentation libraries export them), so existing
dashboards and alerts work. `route` is the path template (`/jobs/{job_id}`), never the path
itself, so ids do not become label values; a path no route matches is `unmatched`.
"""
from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.prom import ApiMetrics
from app.routing import Templates, route_path

UNMATCHED = "unmatched"


def route_of(templates: Templates, scope: Scope, path: str) -> str:
    """The template of the route that answered; for an answer given before routing (401, 413,
    429), the template `path` (as routes know it) belongs to."""
    route = scope.get("route")
    if route is not None and hasattr(route, "path"):
        return route.path
    return templates.route(path) or UNMATCHED


class HttpMetrics:
    def __init__(self, app: ASGIApp, metrics: ApiMetrics, templates: Templates) -> None:
        self.app = app
        self.metrics = metrics
        self.templates = templates

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began, status = time.perf_counter(), 500  # 500 unless an answer starts
        path = route_path(scope)  # now: routing to a mount changes the scope's root_path

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self.metrics.answered(scope["method"], route_of(self.templates, scope, path), status,
                                  time.perf_counter() - began)
