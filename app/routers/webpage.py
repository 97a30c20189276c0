"""The people-facing page at `/`: static HTML, CSS and plain JavaScript in app/static/, no build
step. The page calls the same public API as any client (GET /models, POST /predict, POST /explain,
GET /jobs/{id}, ...), sending the API key the user pastes, so it adds no privileged route. Every
URL it uses is relative to the page, so it works behind a proxy that serves the service under a
path prefix; it is served with a Content-Security-Policy."""
from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parents[1] / "static"
PREFIX = "/static"  # app.middleware.auth lets it through without a key: the files hold no data

router = APIRouter()


# The page loads only its own files and talks only to its own origin: an injected script or style
# from anywhere else is refused. Pictures are blob: URLs (fetched with the key) or data: (the icon).
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
       "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'")


@router.get("/", include_in_schema=False)
def index() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html",
                        headers={"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                                 "Referrer-Policy": "no-referrer"})


def install(app: FastAPI) -> None:
    app.mount(PREFIX, StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(router)
