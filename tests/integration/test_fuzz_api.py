"""Every OpenAPI document the app serves, fuzzed with schemathesis: no generated request gets a 5xx
(SPEC §10). Each operation gets valid requests (positive) and invalid ones (negative: wrong types,
missing fields, values out of range); every case is counted, and every 5xx is collected before
the test fails, so one run reports them all.

To fuzz another face, add its document's path to FACES.
"""

from __future__ import annotations

from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation import GenerationMode

from app.runtime import example_config

FACES = ["/api/openapi.json"]
EXAMPLES_PER_MODE = 100


@pytest.mark.parametrize("document", FACES)
def test_no_generated_request_gets_a_server_error(app, load_config, admin_token, document):
    load_config(example_config())
    schema = schemathesis.openapi.from_wsgi(document, app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert operations, f"{document} describes no operation"
    headers = {"Authorization": f"Bearer {admin_token}"}
    tried: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    server_errors: list[str] = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz(operation, mode, headers, tried, statuses, server_errors)
    print(f"\n{document}: {sum(tried.values())} cases over {len(operations)} operations; answers {dict(statuses)}")
    for label, count in sorted(tried.items()):
        print(f"  {count:4d}  {label}")
    assert not server_errors, "\n\n".join(server_errors[:10])


def _fuzz(operation, mode: GenerationMode, headers: dict, tried: Counter, statuses: Counter, errors: list) -> None:
    label = f"{operation.label} [{mode.value}]"

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES_PER_MODE, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case):
        response = case.call(headers=headers)
        tried[label] += 1
        statuses[f"{response.status_code // 100}xx"] += 1
        if response.status_code >= 500:
            errors.append(f"{label} -> {response.status_code}: {case.as_curl_command()}\n{response.text[:300]}")

    try:
        check()
    except Unsatisfiable:  # negative mode, for an operation that takes nothing that can be wrong
        assert mode == GenerationMode.NEGATIVE, label
