"""The deployment files and the docs stay consistent with the code (no Docker engine needed)."""
from __future__ import annotations

import os
import re

import yaml

from jobs.settings import Settings
from tests.support.stack import ROOT


def test_compose_describes_redis_api_and_gpu_workers() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"redis", "api", "worker"}
    assert "--appendonly" in services["redis"]["command"]
    assert any(v.endswith(":/data") for v in services["redis"]["volumes"])
    api, worker = services["api"], services["worker"]
    assert api["image"] == worker["image"] and api["build"] == worker["build"] == "."
    assert api["command"] == ["python", "-m", "app"]
    assert worker["command"] == ["python", "-m", "worker"]
    for svc in (api, worker):
        assert svc["environment"]["SALIENCY_REDIS_URL"].startswith("redis://redis:")
        assert svc["depends_on"]["redis"]["condition"] == "service_healthy"
    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["capabilities"] == ["gpu"]
    assert "replicas" in worker["deploy"]


def test_dockerfile_installs_the_project_and_serves_both_roles() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11", text, re.M)
    packages = [d.name for d in ROOT.iterdir() if (d / "__init__.py").exists() and d.name != "tests"]
    assert {"saliency", "saliency_client", "app", "worker"} <= set(packages)
    for part in packages:  # every shipped package, or the image's `saliency` CLI cannot import
        assert re.search(rf"^COPY {part} ", text, re.M), part
    assert 'CMD ["python", "-m", "app"]' in text
    assert "SALIENCY_HOST=0.0.0.0" in text


def test_readme_documents_every_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"^\| `(SALIENCY_[A-Z_]+)`", readme, re.M))
    expected = {f"SALIENCY_{name.upper()}" for name in Settings.model_fields}
    assert expected <= documented, f"missing from the README's settings table: {expected - documented}"


def test_ci_runs_make_test() -> None:
    ci = ROOT / ".ci" / "run"
    assert os.access(ci, os.X_OK)
    assert "make test" in ci.read_text()
