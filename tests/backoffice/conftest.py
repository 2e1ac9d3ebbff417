"""Fixtures of the back-office tests: two services reviewed by hand in a temporary plugins folder,
staff accounts, bookings and the mail outbox.

Clock: the root ``frozen_clock`` fixture (2026-09-15 08:00 UTC). CSRF is off here (one test turns
it back on): the other tests post form data directly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from backoffice_helpers import SERVICES, write_services
from flask import Flask, g
from flask.testing import FlaskClient

from inscriptions.extensions import db
from inscriptions.models import Account, Household
from inscriptions.permissions import grant_role
from inscriptions.registrations.create import (
    ParticipantInput,
    RegistrationInput,
    RegistrationOutcome,
    create_registrations,
)


@pytest.fixture
def plugins_dir(tmp_path: Path) -> Path:
    return write_services(tmp_path / "plugins", SERVICES)


@pytest.fixture
def app(make_app: Callable[..., Flask], plugins_dir: Path) -> Iterator[Flask]:
    application = make_app(WTF_CSRF_ENABLED=False, PLUGINS_DIR=plugins_dir)
    with application.app_context():
        yield application


@pytest.fixture
def staff(app: Flask) -> Callable[..., Account]:
    """``staff("agent", "revue")``: an account holding that grant."""

    def make(role: str, service: str | None = None, email: str | None = None) -> Account:
        account, _created, _granted = grant_role(email or f"{role}-{service or 'all'}@mairie.test", role, service)
        return account

    return make


@pytest.fixture
def login_as(client: FlaskClient) -> Callable[[Account | None], Account | None]:
    """Log the test client in as ``account`` (None: log out)."""

    def do_login(account: Account | None) -> Account | None:
        g.pop("_login_user", None)
        with client.session_transaction() as session:
            session.clear()
            if account is not None:
                session["_user_id"] = str(account.id)
                session["_fresh"] = True
        db.session.expire_all()
        return account

    return do_login


@pytest.fixture
def book() -> Callable[..., RegistrationOutcome]:
    """Book the children of a household for a session of a service in one action."""

    def do_book(household: Household, session: str = "s1", *, service: str = "revue",
                level: str = "debutant", health: str = "", first_time: bool | None = None,
                children: list[Any] | None = None) -> RegistrationOutcome:
        kids = household.children if children is None else children
        answers: dict[str, Any] = {"level": level}
        if first_time is not None:
            answers["first_time"] = "yes" if first_time else "no"
        if health:
            answers["health"] = health
        return create_registrations(RegistrationInput(
            service_code=service,
            household_id=household.id,
            participants=[ParticipantInput(child_id=c.id, answers=answers) for c in kids],
            channel="web",
            session_code=session,
        ))

    return do_book


@pytest.fixture
def outbox(app: Flask) -> list[Any]:
    """E-mails sent through the locmem backend."""
    state = app.extensions["mailman"]
    state.outbox = []
    return state.outbox
