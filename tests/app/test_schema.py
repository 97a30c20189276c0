"""Property-based requests generated from /openapi.json (schemathesis) never get a 5xx.

Bounded and derandomized: a fixed number of examples per operation, the same ones every run, no
shrinking; well under a minute against the shared test stack (keys off; the keys are covered by
test_service_security.py). The operations are driven with hypothesis directly: schemathesis's
pytest plugin (`from_fixture`) does not run under pytest 9.
"""
from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings

from tests.support.stack import Service, extra_api

EXAMPLES = 20  # per operation


def test_no_generated_request_gets_a_server_error(service: Service, tmp_path_factory: pytest.TempPathFactory) -> None:
    # Uploads are format: binary, so some generated requests are real pictures that queue real
    # jobs: on an API whose default model is the tiny one, and canceled afterwards, so that they
    # do not hold the shared worker for minutes each.
    env = {**service.env, "SALIENCY_DEFAULT_MODEL": "tiny"}
    with extra_api("schema-api", env, tmp_path_factory.mktemp("schema-api")) as url:
        try:
            calls, operations, errors = _generate(url)
        finally:
            _cancel_everything_queued(url)
    print(f"{calls} generated requests over {operations} operations")
    assert operations >= 7  # submit, job, three artifacts, cancel, models, health, ready
    assert calls >= operations
    assert errors == []
    service.api.ensure_alive()


def _generate(url: str) -> tuple[int, int, list[str]]:
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    errors: list[str] = []
    calls = 0

    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        def call(case: schemathesis.Case) -> None:
            nonlocal calls
            response = case.call(base_url=url, timeout=30)
            calls += 1
            if response.status_code >= 500:
                errors.append(f"{case.method} {case.formatted_path} -> {response.status_code}: "
                              f"{response.text[:300]}")
        call()
    return calls, len(operations), errors


def _cancel_everything_queued(url: str) -> None:
    with httpx.Client(base_url=url, timeout=30) as http:
        for status in ("queued", "started"):
            while ids := [j["job_id"] for j in http.get("/jobs", params={"status": status, "limit": 100}).json()["jobs"]
                          if not j["cancel_requested"]]:
                for job_id in ids:
                    http.post(f"/jobs/{job_id}/cancel")
