"""`python -m app`: serve the API with uvicorn on SALIENCY_HOST:SALIENCY_PORT, in one process or
in SALIENCY_API_WORKERS (`--workers`) processes that share the port.

One process spends about 2.7 ms of CPU per submission (docs/benchmarks.md), so one core caps it;
more processes use more cores. With more than one, the Prometheus counters go to a private
directory that /metrics sums (app.prom), created here and removed at exit.
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile

import uvicorn

from app.prom import MULTIPROC_ENV
from jobs.settings import get_settings


def main(argv: list[str] | None = None) -> int:
    settings = get_settings()
    parser = argparse.ArgumentParser(prog="python -m app", description="Serve the saliency HTTP API.")
    parser.add_argument("--host", default=settings.host)
    parser.add_argument("--port", type=int, default=settings.port)
    parser.add_argument("--workers", type=int, default=settings.api_workers,
                        help="API processes sharing the port (default: SALIENCY_API_WORKERS, 1)")
    parser.add_argument("--log-level", default=settings.log_level.lower())
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    # A directory of our own holds no other program's counters (a worker given the same
    # environment would add its own). Each process reads the variable when it imports
    # prometheus_client, so it is set before uvicorn spawns them.
    os.environ.pop(MULTIPROC_ENV, None)
    metrics_dir = None
    if args.workers > 1:
        # uvicorn restarts a process that dies while starting, forever: a configuration error
        # (no API keys, a bad plugin) must stop us here, once, with its message.
        from app.main import create_app
        create_app(settings).state.redis.close()
        metrics_dir = os.environ[MULTIPROC_ENV] = tempfile.mkdtemp(prefix="saliency-api-metrics-")
    try:
        # Behind a proxy that serves the API under a path prefix and strips it, the prefix goes in
        # every request's root_path: the API docs then find their schema under it.
        uvicorn.run("app.main:create_app", factory=True, host=args.host, port=args.port, workers=args.workers,
                    log_level=args.log_level, proxy_headers=True, root_path=settings.root_path.rstrip("/"))
    finally:
        if metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


raise SystemExit(main())
