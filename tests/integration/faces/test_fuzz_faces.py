"""Both faces' OpenAPI documents fuzzed with schemathesis: no generated request gets a 5xx
(SPEC §10). Bounded: a few dozen examples per operation, over the example jobs."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error


@pytest.mark.parametrize("document, minimum", [("/ogc/api", 9), ("/ga4gh/wes/v1/openapi.json", 10)])
def test_no_generated_request_gets_a_server_error(face_app, face, admin_token, document, minimum):
    schema = schemathesis.openapi.from_wsgi(document, face_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= minimum
    # An execution without Prefer waits for its end (up to a minute): asynchronous here, as no
    # worker runs. The admin token makes every listing read everything.
    headers = {"Authorization": f"Bearer {admin_token}", "Prefer": "respond-async"}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case):
            case.call_and_validate(headers=headers, checks=[not_a_server_error])

        check()
