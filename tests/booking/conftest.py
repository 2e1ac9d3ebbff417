"""Fixtures of the booking tests: an app on small test services, a short booking call.

The tests run on SQLite by default; set ``INSCRIPTIONS_TEST_DATABASE_URL`` to a database of your
own to run them (and the PostgreSQL-only ones) on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from booking_helpers import registration_input, sortie_definition, stage_definition, write_plugins
from flask import Flask

from inscriptions.definitions.registry import init_registry, sync_all
from inscriptions.registrations.create import RegistrationOutcome, create_registrations


@pytest.fixture
def app(make_app: Callable[..., Flask], tmp_path: Path) -> Iterator[Flask]:
    plugins = write_plugins(tmp_path / "plugins", stage_definition(), sortie_definition())
    application = make_app(PLUGINS_DIR=plugins, WTF_CSRF_ENABLED=False)
    with application.app_context():
        sync_all()
        yield application


@pytest.fixture
def install(app: Flask, tmp_path: Path) -> Callable[..., None]:
    """Replace the app's services by these definitions (as a restart with new files would)."""
    counter = {"n": 0}

    def do_install(*definitions: dict[str, Any]) -> None:
        counter["n"] += 1
        app.config["PLUGINS_DIR"] = write_plugins(tmp_path / f"plugins{counter['n']}", *definitions)
        init_registry(app)
        sync_all()

    return do_install


@pytest.fixture
def book() -> Callable[..., RegistrationOutcome]:
    """``book(household, children=..., session=..., **RegistrationInput fields)``."""

    def do_book(household: Any, **options: Any) -> RegistrationOutcome:
        return create_registrations(registration_input(household, **options))

    return do_book


@pytest.fixture
def outbox(app: Flask) -> list[Any]:
    """E-mails sent through the locmem backend (Flask-Mailman keeps them on its state)."""
    state = app.extensions["mailman"]
    state.outbox = []
    return state.outbox
