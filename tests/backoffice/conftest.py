"""Fixtures of the back-office tests: two services reviewed by hand in a temporary plugins folder,
bookings and the mail outbox. Staff accounts and log-ins (``staff``, ``login_as``) are the shared
fixtures of tests/conftest.py; here each log-in starts from an empty session.

Clock: the root ``frozen_clock`` fixture (2026-09-15 08:00 UTC). CSRF is off here (one test turns
it back on): the other tests post form data directly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from backoffice_helpers import SERVICES, write_services
from flask import Flask

from inscriptions.models import Household
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
def login_starts_fresh() -> bool:
    """``login_as`` empties the client's session (and expires loaded objects) before each log-in."""
    return True


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
