"""Security: API keys, jobs visible only to their key, per-key rate limits across API processes,
CORS off by default, unguessable ids, model names that are never paths, safe checkpoint loading,
loopback binding.

An API process with keys on is started beside the shared (keys off) one, on the same Redis and
queue, so the shared worker runs its jobs.
"""
from __future__ import annotations

import ast
import io
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from app.middleware.auth import AuthConfigError
from jobs.state import Jobs
from app.main import create_app
from jobs.settings import Settings
from tests.support.stack import (FAST, MAX_UPLOAD, QUEUE, ROOT, Service, enqueue, extra_api, submit, submit_ok,
                                    wait_status, wait_until)

KEYS = {name: secrets.token_urlsafe(24) for name in ("alice", "bob", "carol")}
SUBMITS_PER_MIN = 3
READS_PER_MIN = 12


def auth_env(service: Service) -> dict[str, str]:
    return {**service.env,
            "SALIENCY_AUTH": "on",
            "SALIENCY_API_KEYS": ",".join(f"{n}:{k}" for n, k in KEYS.items()),
            "SALIENCY_RATE_LIMIT": str(SUBMITS_PER_MIN),
            "SALIENCY_READ_RATE_LIMIT": str(READS_PER_MIN)}


@pytest.fixture(scope="module")
def secured(service: Service, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of an API process with keys on."""
    with extra_api("auth-api", auth_env(service), tmp_path_factory.mktemp("auth-logs")) as url:
        yield url


def as_(name: str, url: str, header: str = "bearer") -> httpx.Client:
    key = KEYS[name]
    headers = {"Authorization": f"Bearer {key}"} if header == "bearer" else {"X-API-Key": key}
    return httpx.Client(base_url=url, headers=headers, timeout=30)


def test_every_request_but_health_and_docs_needs_a_valid_key(secured: str, upload) -> None:
    with httpx.Client(base_url=secured, timeout=30) as anon:
        for path in ("/healthz", "/openapi.json", "/docs"):
            assert anon.get(path).status_code == 200, path
        assert anon.get("/readyz").status_code in (200, 503)
        for headers in ({}, {"Authorization": "Bearer not-a-key"}, {"X-API-Key": "not-a-key"},
                        {"Authorization": f"Basic {KEYS['alice']}"}):
            for method, path in (("GET", "/models"), ("GET", f"/jobs/{'0' * 32}"), ("POST", "/explain")):
                r = anon.request(method, path, headers=headers)
                assert r.status_code == 401, (method, path, headers, r.text)
                assert r.json()["code"] == "unauthorized"
                assert r.headers["www-authenticate"].startswith("Bearer")
        # The key is checked before the body is read: no upload is parsed for an anonymous client.
        big = anon.post("/explain", files={"image": ("x.png", b"\0" * (3 * MAX_UPLOAD), "image/png")})
        assert big.status_code == 401
    spec = httpx.get(f"{secured}/openapi.json").json()
    assert {"HTTPBearer", "APIKeyHeader"} <= set(spec["components"]["securitySchemes"])
    for header in ("bearer", "x-api-key"):
        with as_("alice", secured, header) as alice:
            assert alice.get("/models").status_code == 200


def _not_found(job_id: str) -> dict:
    return {"detail": f"no job {job_id!r}", "code": "job_not_found", "field": None}


def test_a_job_answers_only_to_the_key_that_created_it(secured: str, service: Service, client: httpx.Client,
                                                       running_worker: Service, upload) -> None:
    jobs = Jobs(service.redis, Settings(redis_url=service.env["SALIENCY_REDIS_URL"], queue=QUEUE))
    with as_("alice", secured) as alice, as_("bob", secured) as bob:
        job_id = submit_ok(alice, upload.png, model="tiny", params=FAST)
        wait_until(lambda: jobs.state(job_id).status in ("finished", "failed"), 60, "alice's job")
        assert alice.get(f"/jobs/{job_id}").json()["status"] == "finished"
        assert alice.get(f"/jobs/{job_id}/overlay.png").status_code == 200
        # Bob learns nothing, not even that the id exists: the answer of an id never issued.
        for method, path in (("GET", ""), ("GET", "/saliency.npy"), ("GET", "/saliency.png"),
                             ("GET", "/overlay.png"), ("DELETE", "")):
            r = bob.request(method, f"/jobs/{job_id}{path}")
            assert r.status_code == 404 and r.json() == _not_found(job_id), (method, path, r.text)
        unknown = secrets.token_hex(16)
        assert bob.get(f"/jobs/{unknown}").json() == _not_found(unknown)

        # Expired: the owner learns it is gone (410), anyone else still gets 404.
        service.redis.delete(f"saliency:result:{job_id}", f"rq:job:{job_id}")
        assert alice.get(f"/jobs/{job_id}").status_code == 410
        assert bob.get(f"/jobs/{job_id}").status_code == 404

        # A job submitted while keys were off (the shared API) belongs to no key.
        anonymous = submit_ok(client, upload.png, model="tiny", params=FAST)
        assert alice.get(f"/jobs/{anonymous}").json() == _not_found(anonymous)
        wait_status(client, anonymous, "finished", "failed")


def test_rate_limits_are_per_key_and_shared_by_api_processes(secured: str, service: Service) -> None:
    """Carol alternates between the API process and a second app on the same Redis."""
    settings = Settings(_env_file=None, **{k.removeprefix("SALIENCY_").lower(): v
                                           for k, v in auth_env(service).items() if k.startswith("SALIENCY_")})
    with TestClient(create_app(settings), headers={"X-API-Key": KEYS["carol"]}) as other, \
            as_("carol", secured) as carol:
        clients = [carol, other]
        answers = [clients[i % 2].get("/models").status_code for i in range(READS_PER_MIN)]
        assert answers == [200] * READS_PER_MIN
        refused = clients[READS_PER_MIN % 2].get("/models")
        assert refused.status_code == 429 and refused.json()["code"] == "rate_limited"
        assert 1 <= int(refused.headers["retry-after"]) <= 60 / READS_PER_MIN
        assert clients[1 - READS_PER_MIN % 2].get("/models").status_code == 429

        # Submissions have a budget of their own, spent before the body is even parsed.
        def stored() -> set[bytes]:  # the rate budgets aside
            return {k for k in service.redis.keys("saliency:*") if not k.startswith(b"saliency:rate:")}
        before = stored()
        bad = {"image": ("x.png", b"not an image", "image/png")}
        assert [clients[i % 2].post("/explain", files=bad).status_code
                for i in range(SUBMITS_PER_MIN)] == [415] * SUBMITS_PER_MIN
        refused = other.post("/explain", files=bad)
        assert refused.status_code == 429 and 1 <= int(refused.headers["retry-after"]) <= 60 / SUBMITS_PER_MIN
        assert stored() == before
    with as_("alice", secured) as alice:  # other keys are not affected
        assert alice.get("/models").status_code == 200


def test_cors_is_off_unless_origins_are_configured(secured: str, service: Service) -> None:
    preflight = {"Origin": "https://ui.example", "Access-Control-Request-Method": "POST"}
    r = httpx.options(f"{secured}/explain", headers=preflight)
    assert "access-control-allow-origin" not in r.headers
    r = httpx.get(f"{secured}/healthz", headers={"Origin": "https://ui.example"})
    assert "access-control-allow-origin" not in r.headers

    settings = Settings(redis_url=service.env["SALIENCY_REDIS_URL"], queue=QUEUE, auth=False,
                        cors_origins="https://ui.example")
    with TestClient(create_app(settings)) as app:
        ok = app.options("/explain", headers=preflight)
        assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "https://ui.example"
        other = app.options("/explain", headers={**preflight, "Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_keys_on_without_usable_keys_refuse_to_start() -> None:
    for keys in ("", "alice", "alice:short", f"alice:{'x' * 20},bob:{'x' * 20}", f":{'x' * 20}"):
        with pytest.raises(AuthConfigError):
            create_app(Settings(_env_file=None, auth=True, api_keys=keys))


def test_job_ids_are_128_random_bits(service: Service) -> None:
    """uuid4 would fix 6 of the 128 bits (version and variant); these ids leave none fixed."""
    settings = Settings(redis_url=service.env["SALIENCY_REDIS_URL"], queue="ids-only", key_prefix="ids-only")
    buf = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buf, "PNG")
    ids = [enqueue(service.redis, settings, buf.getvalue()) for _ in range(64)]
    try:
        assert len(set(ids)) == len(ids)
        assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
        for pos in range(32):  # every hex digit varies; P(a random one never does) = 16**-63
            assert len({i[pos] for i in ids}) > 1, pos
    finally:
        for key in service.redis.scan_iter("ids-only:*"):
            service.redis.delete(key)
        for job_id in ids:
            service.redis.delete(f"rq:job:{job_id}")
        service.redis.delete("rq:queue:ids-only")


def test_model_names_are_registry_keys_never_paths(client: httpx.Client, tiny_models_file: Path, upload) -> None:
    weights = next(tiny_models_file.parent.glob("tiny.pt*"))
    for name in (str(weights), str(weights.with_suffix("")), "../" + weights.name, str(tiny_models_file)):
        r = submit(client, upload.png, model=name, params=FAST)
        assert r.status_code == 422 and r.json()["field"] == "model", (name, r.text)


def test_checkpoints_are_loaded_with_weights_only() -> None:
    """No unpickling of arbitrary objects: every torch.load passes weights_only=True, and nothing
    calls pickle itself."""
    calls = []
    for path in [*ROOT.glob("saliency/**/*.py"), *ROOT.glob("app/*.py"), *ROOT.glob("worker/*.py")]:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                owner = getattr(node.func.value, "id", None)
                if owner == "pickle" and node.func.attr in ("load", "loads"):
                    pytest.fail(f"{path}: pickle.{node.func.attr}")
                if owner == "torch" and node.func.attr == "load":
                    kw = {k.arg: k.value for k in node.keywords}
                    ok = isinstance(kw.get("weights_only"), ast.Constant) and kw["weights_only"].value is True
                    assert ok, f"{path}:{node.lineno}: torch.load without weights_only=True"
                    calls.append(path)
    assert calls  # the scan does see the loaders


def _outside_address() -> str | None:
    """An address of this machine that is not loopback, if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # TEST-NET: nothing is sent, the OS picks the interface
            address = s.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_the_api_binds_to_loopback_by_default(service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SALIENCY_HOST", "SALIENCY_CORS_ORIGINS", "SALIENCY_AUTH"):
        monkeypatch.delenv(name, raising=False)
    defaults = Settings(_env_file=None)
    assert defaults.host == "127.0.0.1" and defaults.auth is True and defaults.cors_origin_list() == []
    # The shared API was started without SALIENCY_HOST: it answers on loopback only.
    port = int(service.url.rsplit(":", 1)[1])
    address = _outside_address()
    if address is None:
        pytest.skip("this machine has no address but loopback")
    with pytest.raises(OSError):
        socket.create_connection((address, port), timeout=2).close()
