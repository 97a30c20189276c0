"""`python -m app`: serve the API with uvicorn on SALIENCY_HOST:SALIENCY_PORT."""
from __future__ import annotations

import argparse

import uvicorn

from jobs.settings import get_settings


def main(argv: list[str] | None = None) -> int:
    settings = get_settings()
    parser = argparse.ArgumentParser(prog="python -m app", description="Serve the saliency HTTP API.")
    parser.add_argument("--host", default=settings.host)
    parser.add_argument("--port", type=int, default=settings.port)
    parser.add_argument("--log-level", default=settings.log_level.lower())
    args = parser.parse_args(argv)
    uvicorn.run("app.main:create_app", factory=True, host=args.host, port=args.port,
                log_level=args.log_level, proxy_headers=True)
    return 0


raise SystemExit(main())
