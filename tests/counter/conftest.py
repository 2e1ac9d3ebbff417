"""Fixtures of the counter tests: staff accounts logged in on a client, households opened with a reason.

CSRF is off here (one test turns it back on): every other form test posts data directly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from flask import Flask, g
from flask.testing import FlaskClient

from inscriptions.extensions import db
from inscriptions.models import Account
from inscriptions.permissions import grant_role


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Iterator[Flask]:
    application = make_app(WTF_CSRF_ENABLED=False)
    with application.app_context():
        yield application


@pytest.fixture
def staff(app: Flask) -> Callable[..., Account]:
    """``staff("agent", "cantine")``: an account holding that grant."""

    def make(role: str, service: str | None = None, email: str | None = None) -> Account:
        account, _created, _granted = grant_role(email or f"{role}-{service or 'all'}@mairie.test", role, service)
        return account

    return make


@pytest.fixture
def login_as(client: FlaskClient) -> Callable[[Account], Account]:
    """Log the test client in as ``account``."""

    def do_login(account: Account) -> Account:
        g.pop("_login_user", None)
        with client.session_transaction() as session:
            session["_user_id"] = str(account.id)
            session["_fresh"] = True
        return account

    return do_login


@pytest.fixture
def agent(staff: Callable[..., Account], login_as: Callable[[Account], Account]) -> Account:
    """A canteen agent, logged in."""
    return login_as(staff("agent", "cantine"))


@pytest.fixture
def open_household(client: FlaskClient) -> Callable[..., None]:
    """Give the access reason for a household, as the agent does before seeing its file."""

    def do_open(household_id: int, reason: str = "counter", detail: str = "") -> None:
        response = client.post(f"/guichet/foyers/{household_id}/acces", data={"reason": reason, "detail": detail})
        assert response.status_code == 302, response.get_data(as_text=True)[:1000]
        g.pop("_login_user", None)
        db.session.expire_all()

    return do_open
