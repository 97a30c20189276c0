"""Property-based requests generated from /openapi.json (schemathesis) never get a 5xx.

Bounded and derandomized: a fixed number of examples per operation, the same ones every run, no
shrinking; well under a minute against the shared test stack (keys off; the keys are covered by
test_service_security.py). The operations are driven with hypothesis directly: schemathesis's
pytest plugin (`from_fixture`) does not run under pytest 9.
"""
from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings

from tests.support.stack import Service

EXAMPLES = 20  # per operation


def test_no_generated_request_gets_a_server_error(service: Service) -> None:
    schema = schemathesis.openapi.from_url(f"{service.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 7  # submit, job, three artifacts, cancel, models, health, ready
    errors: list[str] = []
    calls = 0

    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        def call(case: schemathesis.Case) -> None:
            nonlocal calls
            response = case.call(timeout=30)
            calls += 1
            if response.status_code >= 500:
                errors.append(f"{case.method} {case.formatted_path} -> {response.status_code}: "
                              f"{response.text[:300]}")
        call()

    print(f"{calls} generated requests over {len(operations)} operations")
    assert calls >= len(operations)
    assert errors == []
    service.api.ensure_alive()
