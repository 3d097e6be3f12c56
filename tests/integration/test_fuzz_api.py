"""The OpenAPI document fuzzed with schemathesis: no generated request gets a 5xx (SPEC §10)."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from app.runtime import example_config


def test_no_generated_request_gets_a_server_error(app, load_config, admin_token):
    load_config(example_config())
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 9
    headers = {"Authorization": f"Bearer {admin_token}"}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case):
            case.call_and_validate(headers=headers, checks=[not_a_server_error])

        check()
