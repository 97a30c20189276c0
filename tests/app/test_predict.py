"""POST /predict over real HTTP: the model's own top classes for an upload, checked like POST
/explain, nothing stored."""
from __future__ import annotations

import secrets
from pathlib import Path

import httpx
import pytest
import torch
from fastapi.testclient import TestClient

from app.main import create_app
from jobs.settings import Settings
from saliency.images import open_image
from tests.support.stack import Service, Upload


def predict(client: httpx.Client, data: bytes, **fields: str) -> httpx.Response:
    return client.post("/predict", files={"image": ("x.png", data, "image/png")}, data=fields)


def test_top5_is_the_tiny_models_own_prediction(client: httpx.Client, service: Service, upload: Upload,
                                                 tiny) -> None:
    keys_before = set(service.redis.keys("*"))
    r = predict(client, upload.png, model="tiny")
    assert r.status_code == 200, r.text
    got = r.json()

    with torch.inference_mode():
        probs = tiny(tiny.preprocess(open_image(upload.png)))[0]
    order = probs.argsort(descending=True).tolist()[:5]
    assert [p["index"] for p in got] == order  # tiny has 4 classes: all of them, best first
    assert [p["label"] for p in got] == [tiny.labels[i] for i in order]
    for p in got:
        assert abs(p["score"] - float(probs[p["index"]])) < 1e-5
    assert got[0]["label"] == upload.label  # the planted object is what the model sees
    # A prediction leaves none of the service's data behind: the worker took the picture and the
    # API the reply (RQ's own bookkeeping of the finished job is RQ's to clean up, a moment later).
    # Earlier tests' keys may expire meanwhile: only additions count.
    assert not {k for k in service.redis.keys("saliency:*")} - keys_before


def test_refused_like_explain(client: httpx.Client, service: Service, upload: Upload) -> None:
    keys_before = set(service.redis.keys("*"))
    r = predict(client, upload.png, model="no_such_model")
    assert r.status_code == 422
    assert r.json()["field"] == "model" and r.json()["code"] == "unknown_model"

    r = predict(client, b"not a picture at all", model="tiny")
    assert r.status_code == 415 and r.json()["code"] == "not_an_image"

    r = predict(client, b"\0" * 1_000_001, model="tiny")  # over the fixture's 1 MB limit
    assert r.status_code == 413 and r.json()["code"] == "upload_too_large"
    assert not set(service.redis.keys("*")) - keys_before


def test_predictions_share_the_submission_budget(redis_server, tiny_models_file: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Like POST /explain, POST /predict spends the key's submission budget (checked before the body
    is read), not the read budget that polling uses."""
    monkeypatch.setenv("SALIENCY_MODELS_FILE", str(tiny_models_file))
    secret = secrets.token_urlsafe(24)
    prefix = f"predict-limit-{secrets.token_hex(4)}"  # a budget of its own in the shared Redis
    settings = Settings(_env_file=None, redis_url=redis_server.url, key_prefix=prefix, queue=prefix,
                        auth=True, api_keys=f"dana:{secret}", rate_limit=2, read_rate_limit=100)
    with TestClient(create_app(settings), headers={"X-API-Key": secret}) as app:
        for _ in range(2):  # within the budget (no worker published here: 422, but not 429)
            assert predict(app, b"not a picture", model="tiny").status_code == 422
        refused = predict(app, b"not a picture", model="tiny")
        assert refused.status_code == 429 and refused.json()["code"] == "rate_limited"
        assert int(refused.headers["Retry-After"]) > 0
        assert app.post("/explain", files={"image": ("x.png", b"x", "image/png")}).status_code == 429
        assert app.get("/models").status_code == 200  # reads have their own budget


def test_a_workers_error_is_relayed_with_its_status(client: httpx.Client, running_worker: Service,
                                                    upload: Upload) -> None:
    """`broken` is listed (its file exists) but no network loads from it: the worker says so."""
    r = predict(client, upload.png, model="broken")
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "model_unavailable" and body["field"] == "model" and "broken.pt" in body["detail"]
