"""GET /jobs: filters and cursor paging against the real service; the index's tie order; and
that listings and batches answer only to the key that created their jobs."""
from __future__ import annotations

import base64
import secrets
from datetime import datetime

import httpx
import pytest
from fastapi.testclient import TestClient

from jobs.index import JobIndex
from app.main import create_app
from jobs.settings import Settings
from tests.support.stack import FAST, Gate, Service, submit_ok, wait_status, publish_catalog


def walk(client: httpx.Client, **query: object) -> list[dict]:
    """Every job the listing gives for `query`, following next_cursor to the end."""
    seen: list[dict] = []
    cursor = None
    for _ in range(1000):
        r = client.get("/jobs", params={**query, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["jobs"]) <= int(query.get("limit", 20))
        seen += page["jobs"]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen
    pytest.fail("the cursor never ended")


@pytest.fixture(scope="module")
def mine(client_module: httpx.Client, service: Service, upload,
         tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """Jobs of this module, by kind, each final: 4 finished, 2 failed (model `broken`), 1 canceled."""
    if not service.worker.alive:  # an earlier test may have stopped it
        service.start_worker()
    c = client_module
    gate = Gate(tmp_path_factory.mktemp("gates"))  # never released: that job is canceled
    kinds: dict[str, list[str]] = {"finished": [], "failed": [], "canceled": []}
    for i in range(6):
        if i in (1, 4):
            kinds["failed"].append(submit_ok(c, upload.png, model="broken", params=FAST))
        else:
            kinds["finished"].append(submit_ok(c, upload.png, model="tiny", params=FAST))
    slow = submit_ok(c, upload.png, model="tiny", method="gate", params=gate.params())
    assert c.delete(f"/jobs/{slow}").status_code in (200, 202)
    kinds["canceled"].append(slow)
    for kind, ids in kinds.items():
        for job_id in ids:
            assert wait_status(c, job_id, "finished", "failed", "canceled")["status"] == kind
    return kinds


@pytest.fixture(scope="module")
def client_module(service: Service):
    with httpx.Client(base_url=service.url, timeout=30) as c:
        yield c


def test_paging_walks_every_job_once_newest_first(client_module: httpx.Client, mine: dict[str, list[str]]) -> None:
    jobs = walk(client_module, limit=2)
    ids = [j["job_id"] for j in jobs]
    assert len(ids) == len(set(ids)), "a job appeared on two pages"
    created = [datetime.fromisoformat(j["created_at"]) for j in jobs]
    assert created == sorted(created, reverse=True)
    submitted = mine["finished"] + mine["failed"] + mine["canceled"]
    assert set(submitted) <= set(ids)
    # The walk begins like one big page: paging neither skips nor reorders.
    big = [j["job_id"] for j in client_module.get("/jobs", params={"limit": 100}).json()["jobs"]]
    assert ids[:100] == big


def test_filters_by_status_model_and_method(client_module: httpx.Client, mine: dict[str, list[str]]) -> None:
    for status, expected in mine.items():
        got = walk(client_module, status=status, limit=3)
        assert {j["status"] for j in got} == {status}
        assert set(expected) <= {j["job_id"] for j in got}
        others = {i for s, ids in mine.items() if s != status for i in ids}
        assert not others & {j["job_id"] for j in got}
    broken = walk(client_module, model="broken", limit=1)
    assert {j["model"] for j in broken} == {"broken"} and set(mine["failed"]) <= {j["job_id"] for j in broken}
    tiny = {j["job_id"] for j in walk(client_module, model="tiny", method="oise", status="finished")}
    assert set(mine["finished"]) <= tiny and not set(mine["failed"]) & tiny
    assert all(j["method"] == "rise" for j in walk(client_module, method="rise"))
    assert not {j["job_id"] for j in walk(client_module, model="tiny", method="rise")} & tiny


def test_expired_jobs_leave_the_listing(client_module: httpx.Client, service: Service, mine: dict[str, list[str]]) -> None:
    gone = mine["finished"][0]
    service.redis.delete(f"saliency:result:{gone}")  # what result_ttl does to a finished job
    ids = {j["job_id"] for j in walk(client_module, limit=50)}
    assert gone not in ids and set(mine["finished"][1:]) <= ids
    assert service.redis.zscore("saliency:index:", gone) is None  # dropped from the index read


def test_bad_paging_arguments_are_422(client_module: httpx.Client) -> None:
    nan = base64.urlsafe_b64encode(b"nan:" + b"0" * 32).decode()
    for query in ({"cursor": "not-a-cursor"}, {"cursor": nan}, {"limit": 0}, {"limit": 101}, {"status": "done"}):
        r = client_module.get("/jobs", params=query)
        assert r.status_code == 422, (query, r.text)
        assert r.json()["field"] in ("cursor", "limit", "status")


def test_ties_in_submit_time_are_neither_repeated_nor_lost(service: Service) -> None:
    index = JobIndex(service.redis, Settings(key_prefix=f"ties-{secrets.token_hex(4)}"))
    ids = sorted(secrets.token_hex(16) for _ in range(7))
    with service.redis.pipeline() as pipe:
        for n, job_id in enumerate(ids):
            index.add(pipe, job_id, "o", "tiny", "oise", 1000.0 + (n >= 3))  # 3 at one time, 4 at the next
        pipe.execute()
    for chunk in (1, 2, 3, 10):
        walked = [p.job_id for p in index.walk(index.key("o"), None, chunk)]
        assert walked == ids[3:][::-1] + ids[:3][::-1], chunk
        # Resuming from any position gives exactly the rest.
        for k, pos in enumerate(index.walk(index.key("o"), None, chunk)):
            assert [p.job_id for p in index.walk(index.key("o"), pos, chunk)] == walked[k + 1:]


def test_listings_and_batches_answer_only_to_their_key(service: Service, upload,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """An API with keys on, in this process, on the shared Redis; its jobs go to a queue no
    worker reads, so they stay queued."""
    monkeypatch.setenv("SALIENCY_MODELS_FILE", service.env["SALIENCY_MODELS_FILE"])
    keys = {name: secrets.token_urlsafe(24) for name in ("ann", "ben")}
    settings = Settings(redis_url=service.env["SALIENCY_REDIS_URL"], queue=f"own-{secrets.token_hex(4)}",
                        key_prefix=f"own-{secrets.token_hex(4)}", auth=True,
                        api_keys=",".join(f"{n}:{k}" for n, k in keys.items()))
    publish_catalog(service.redis, settings)
    api = TestClient(create_app(settings))
    as_ = {n: {"X-API-Key": k} for n, k in keys.items()}
    files = [("images", ("a.png", upload.png, "image/png"))] * 2
    r = api.post("/batches", files=files, data={"model": "tiny"}, headers=as_["ann"])
    assert r.status_code == 202, r.text
    batch_id, ann_jobs = r.json()["batch_id"], [j["job_id"] for j in r.json()["jobs"]]
    assert api.get(f"/batches/{batch_id}", headers=as_["ann"]).json()["counts"]["queued"] == 2
    assert api.get(f"/batches/{batch_id}", headers=as_["ben"]).json()["code"] == "batch_not_found"
    assert api.get("/jobs", headers=as_["ben"]).json() == {"jobs": [], "next_cursor": None}
    listed = api.get("/jobs", headers=as_["ann"]).json()["jobs"]
    assert [j["job_id"] for j in listed] == ann_jobs[::-1] and {j["status"] for j in listed} == {"queued"}
    assert api.get("/jobs").status_code == 401 and api.get(f"/batches/{batch_id}").status_code == 401
