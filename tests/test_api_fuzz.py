"""schemathesis calls every operation in /api/v1/openapi.json with generated input,
as a frontline worker and as a leader: none may answer with a server error.

schemathesis' pytest plugin does not run under pytest 9 yet, so the operations are
walked with its Python API and Hypothesis directly.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from sessions import DEMO_EMAIL

from pilots.domain import organisation as org
from pilots.domain import tokens

FUZZ = settings(
    max_examples=12,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.mark.parametrize("role", ["frontline", "leader"])
def test_no_operation_answers_with_a_server_error(app, db, role):
    token, _row = tokens.create_token(db, org.user_by_email(db, DEMO_EMAIL[role])["id"], "fuzz")
    headers = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 7
    for operation in operations:

        @FUZZ
        @given(case=operation.as_strategy())
        def call(case):
            response = case.call(app=app, headers=headers)
            assert response.status_code < 500, (case.method, case.path, response.text[:300])

        call()
