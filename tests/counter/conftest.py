"""Fixtures of the counter tests: households opened with a reason. Staff accounts and log-ins
(``staff``, ``login_as``, ``agent``) are the shared fixtures of tests/conftest.py.

CSRF is off here (one test turns it back on): every other form test posts data directly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from flask import Flask, g
from flask.testing import FlaskClient

from inscriptions.extensions import db


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Iterator[Flask]:
    application = make_app(WTF_CSRF_ENABLED=False)
    with application.app_context():
        yield application


@pytest.fixture
def open_household(client: FlaskClient) -> Callable[..., None]:
    """Give the access reason for a household, as the agent does before seeing its file."""

    def do_open(household_id: int, reason: str = "counter", detail: str = "") -> None:
        response = client.post(f"/guichet/foyers/{household_id}/acces", data={"reason": reason, "detail": detail})
        assert response.status_code == 302, response.get_data(as_text=True)[:1000]
        g.pop("_login_user", None)
        db.session.expire_all()

    return do_open
