"""Fixtures of the waiting-list tests: small-capacity services in a temporary plugins folder.

Clock: the root ``frozen_clock`` fixture (2026-09-15 08:00 UTC, 10:00 in Paris); every session
here starts later (the soonest, ``stage`` ``s1``, on 2026-10-01 at 10:00 Paris time).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from waitlist_helpers import SERVICES, write_services

from inscriptions.definitions.registry import init_registry
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
def reload_services(app: Flask, plugins_dir: Path) -> Callable[[dict[str, dict[str, Any]]], None]:
    """Rewrite some definitions and reload the registry, as a restart with edited files would."""

    def reload(changed: dict[str, dict[str, Any]]) -> None:
        write_services(plugins_dir, changed)
        init_registry(app)

    return reload


@pytest.fixture
def book() -> Callable[..., RegistrationOutcome]:
    """Book children of a household (all of them by default) for a session in one action."""

    def do_book(household: Household, session: str = "s1", *, service: str = "stage",
                children: list[Any] | None = None) -> RegistrationOutcome:
        kids = household.children if children is None else children
        return create_registrations(RegistrationInput(
            service_code=service,
            household_id=household.id,
            participants=[ParticipantInput(child_id=c.id, answers={}) for c in kids],
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
