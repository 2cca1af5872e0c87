"""Schemathesis fuzzes every operation from the OpenAPI document: no 5xx, every answer conforms.

Positive and negative examples (a fixed, small number per operation, derandomised) against the
Kaiserslautern roadmap, through WSGI. The default checks include: no server error, status code,
content type, headers and body as documented, invalid input rejected, undeclared methods 405.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from kldialog import create_app
from kldialog.kernel.db import db

from .conftest import base_config, load_bundled_roadmap

# Built at import: schemathesis reads the document while collecting (its fixture loader does
# not work with pytest 9). In-memory SQLite keeps one database per app, filled below.
app = create_app(base_config())
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


@pytest.fixture(scope="module", autouse=True)
def roadmap() -> Iterator[None]:
    """Fill the app's database with the bundled roadmap for this module only."""
    with app.app_context():
        db.create_all()
        load_bundled_roadmap()
        db.session.remove()
    yield
    with app.app_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


@schema.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_the_api_conforms_to_its_openapi_document(case: schemathesis.Case) -> None:
    case.call_and_validate()
