"""Property-based run of schemathesis against the OpenAPI schema: no input makes the API answer 5xx.

Bounded: a few derandomized examples per operation (deterministic, seconds not minutes).  The
operations are driven directly (``as_strategy``) rather than through schemathesis' pytest plugin."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.api.conftest import Api

EXAMPLES_PER_OPERATION = 12


def _imports_by_name(case: schemathesis.Case) -> bool:
    """POST /requests with a body holding only RequestName: an import from ReqMgr2."""
    return (case.method == "POST" and case.formatted_path.rstrip("/").endswith("/requests")
            and isinstance(case.body, dict) and set(case.body) == {"RequestName"})


@pytest.mark.slow
def test_no_server_errors(api: Api) -> None:
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", api.client.app)
    headers = api.headers("operator")
    seen = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        seen += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case: schemathesis.Case) -> None:
            response = case.call(headers=headers)
            where = f"{case.method} {case.formatted_path}"
            if response.status_code == 502 and _imports_by_name(case):
                return  # the documented answer when ReqMgr2 is unreachable (none runs in tests)
            assert response.status_code < 500, f"{where}: {response.status_code} {response.text}"
            if response.status_code >= 400:
                body = response.json()
                assert isinstance(body.get("detail"), str) and isinstance(body.get("errors"), list), where

        check()
    assert seen >= 20
