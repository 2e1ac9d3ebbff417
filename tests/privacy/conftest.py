"""Fixtures of the privacy tests: a child service with sensitive fields, a file field and photo
consent; bookings through the engine's one path. Staff accounts and log-ins (``staff``,
``login_as``) are the shared fixtures of tests/conftest.py; here each log-in starts from an empty
session.

Clock: the root ``frozen_clock`` fixture (2026-09-15 08:00 UTC); the purge tests move it with
``frozen_clock(moment)``, as the waiting-list tests do. CSRF is off (posts send data directly).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from privacy_helpers import ANSWERS, ATELIER, write_plugins

from inscriptions.definitions.registry import sync_all
from inscriptions.models import Household
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
def login_starts_fresh() -> bool:
    """``login_as`` empties the client's session (and expires loaded objects) before each log-in."""
    return True


@pytest.fixture
def outbox(app: Flask) -> list[Any]:
    state = app.extensions["mailman"]
    state.outbox = []
    return state.outbox


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
