"""Schemathesis over the real server's OpenAPI spec: requests made from the spec, valid and not,
sent with a key that has every scope, never get a 5xx. Kept short: a few examples per operation.

(The spec is read from the running server, so the operations are walked inside one test:
schemathesis's ``pytest.from_fixture`` does not run under pytest 9.)
"""

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

EXAMPLES = 15


def test_no_request_from_the_spec_makes_the_server_fail(live_server):
    schema = schemathesis.openapi.from_url(f"{live_server.url}/openapi.json")
    key = {"Authorization": f"Bearer {live_server.keys['all']}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/api/v1/ask", "/api/v1/answers/{answer_id}/feedback", "/api/v1/export",
                                              "/api/v1/models", "/v1/chat/completions", "/v1/models",
                                              "/api/v1/documents", "/api/v1/documents/{doc_id}"}
    failures = {}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
                  database=None)
        def no_server_error(case):
            case.call_and_validate(headers=key, checks=[not_a_server_error], timeout=120)

        try:
            no_server_error()
        except Exception as error:  # every operation is tried; all failures are reported together
            failures[operation.label] = error
    assert not failures, "\n\n".join(f"{label}: {error}" for label, error in failures.items())
