"""The per-key cap on jobs queued or running at once (SALIENCY_MAX_ACTIVE_JOBS, RQ's RateLimit):
past it a key's jobs are accepted but held, and say so; they run as the key's earlier jobs end;
other keys are not held. An API with keys on, beside the shared stack, on its Redis and worker."""
from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.support.stack import FAST, PLUGINS, QUEUE, Gate, Service, submit, wait_status


def test_a_key_past_its_cap_is_held_not_others(running_worker: Service, upload, gate: Gate,
                                                tiny_models_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.main import create_app
    from jobs.settings import Settings

    monkeypatch.setenv("SALIENCY_MODELS_FILE", str(tiny_models_file))
    monkeypatch.setenv("SALIENCY_PLUGINS", PLUGINS)  # the gate method
    keys = {name: secrets.token_urlsafe(24) for name in ("dave", "erin")}
    settings = Settings(redis_url=running_worker.env["SALIENCY_REDIS_URL"], queue=QUEUE, auth=True,
                        api_keys=",".join(f"{n}:{k}" for n, k in keys.items()), max_active_jobs=1)
    with TestClient(create_app(settings), headers={"X-API-Key": keys["dave"]}) as dave, \
            TestClient(create_app(settings), headers={"X-API-Key": keys["erin"]}) as erin:
        release = gate.params()
        first = submit(dave, upload.png, model="tiny", method="gate", params=release)
        assert first.status_code == 202 and first.json()["held"] is False, first.text
        wait_status(dave, first.json()["job_id"], "started")

        second = submit(dave, upload.png, model="tiny", params=FAST)
        assert second.status_code == 202 and second.json()["held"] is True, second.text
        held = dave.get(f"/jobs/{second.json()['job_id']}").json()
        assert held["status"] == "queued" and held["held"] is True
        third = submit(dave, upload.png, model="tiny", params=FAST)  # held too, then canceled
        assert third.json()["held"] is True
        canceled = dave.post(f"/jobs/{third.json()['job_id']}/cancel")
        assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"

        other = submit(erin, upload.png, model="tiny", params=FAST)  # another key: queued, not held
        assert other.status_code == 202 and other.json()["held"] is False, other.text

        gate.release(release)
        for client, answer in ((dave, first), (dave, second), (erin, other)):
            done = wait_status(client, answer.json()["job_id"], "finished", "failed")
            assert done["status"] == "finished" and done["held"] is False, done
