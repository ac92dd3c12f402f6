"""Fuzz every operation of the OpenAPI schema with schemathesis: no input may produce a 5xx.

Runs in-process through the WSGI app against the session's database (SQLite or PostgreSQL:
the latter rejects NUL bytes and lone surrogates that SQLite stores, so both matter).
transactional_db, not db: the WSGI handler closes connections at the end of each request, as in
production, which would break a test wrapped in one transaction.
Bounded: a fixed number of examples per operation keeps the tier fast and repeatable.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

MAX_EXAMPLES = 150


from demo.wsgi import application  # noqa: E402  (after the imports above: Django is set up by pytest-django)

# Loaded at collection: the schema view touches no database.
schema = schemathesis.openapi.from_wsgi("/api/schema/", application)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,  # no .hypothesis/ directory in the work tree; runs are reproducible by seed
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_error(case, transactional_db):
    case.call_and_validate(checks=[not_a_server_error])
