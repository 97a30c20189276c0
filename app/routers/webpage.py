"""The people-facing page at `/`: static HTML, CSS and plain JavaScript in app/static/, no build
step. The page calls the same public API as any client (GET /models, POST /predict, POST /explain,
GET /jobs/{id}, ...), sending the API key the user pastes, so it adds no privileged route."""
from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parents[1] / "static"
PREFIX = "/static"  # app.middleware.auth lets it through without a key: the files hold no data

router = APIRouter()


@router.get("/", include_in_schema=False)
def index() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html")


def install(app: FastAPI) -> None:
    app.mount(PREFIX, StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(router)
