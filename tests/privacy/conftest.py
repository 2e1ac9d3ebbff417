"""Fixtures of the privacy tests: a child service with sensitive fields, a file field and photo
consent; staff and parents logged in on the client; bookings through the engine's one path.

Clock: the root ``frozen_clock`` fixture (2026-09-15 08:00 UTC); the purge tests move it with
``frozen_clock(moment)``, as the waiting-list tests do. CSRF is off (posts send data directly).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, g
from flask.testing import FlaskClient
from privacy_helpers import ANSWERS, ATELIER, write_plugins

from inscriptions.definitions.registry import sync_all
from inscriptions.models import Account, Household
from inscriptions.permissions import grant_role
from inscriptions.registrations.create import (
    ParticipantInput,
    RegistrationInput,
    RegistrationOutcome,
    create_registrations,
)


@pytest.fixture
def app(make_app: Callable[..., Flask], tmp_path: Path) -> Iterator[Flask]:
    plugins = write_plugins(tmp_path / "plugins", copy.deepcopy(ATELIER))
    application = make_app(PLUGINS_DIR=plugins, WTF_CSRF_ENABLED=False)
    with application.app_context():
        sync_all()
        yield application


@pytest.fixture
def outbox(app: Flask) -> list[Any]:
    state = app.extensions["mailman"]
    state.outbox = []
    return state.outbox


@pytest.fixture
def staff(app: Flask) -> Callable[..., Account]:
    """``staff("agent", "atelier")``: an account holding that grant."""

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
        return account

    return do_login


@pytest.fixture
def book() -> Callable[..., RegistrationOutcome]:
    """``book(household, session="old", answers=..., channel=..., keyed_by_id=...)``: every child."""

    def do_book(household: Household, *, session: str = "old", answers: dict[str, Any] | None = None,
                **extra: Any) -> RegistrationOutcome:
        values = dict(answers if answers is not None else ANSWERS)
        participants = [ParticipantInput(child_id=c.id, answers=values) for c in household.children]
        return create_registrations(RegistrationInput(
            service_code="atelier", household_id=household.id, participants=participants,
            channel=extra.pop("channel", "web"), session_code=session, **extra))

    return do_book
