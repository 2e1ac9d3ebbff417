"""Fixtures of the booking tests: an app on small test services, a short booking call.

The tests run on SQLite by default; set ``INSCRIPTIONS_TEST_DATABASE_URL`` to a database of your
own to run them (and the PostgreSQL-only ones) on PostgreSQL.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from booking_helpers import registration_input, sortie_definition, stage_definition, write_plugins
from flask import Flask
from flask.testing import FlaskClient

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


@pytest.fixture
def sortie_review(client: FlaskClient, install: Callable[..., None], make_household: Callable[..., Any],
                  login: Callable[..., Any]) -> str:
    """A family logged in on ``client`` with a filled form of the household service ``sortie``
    (2 of 5 seats), on its review page: the draft's token (POST its review page to book)."""
    install(sortie_definition(capacity=5))
    login(make_household())
    started = client.post("/services/sortie/inscription", data={"session": "s1"})
    assert started.status_code == 302, started.get_data(as_text=True)
    found = re.search(r"/inscription/([0-9a-f]{32})/", started.headers["Location"])
    assert found is not None, started.headers["Location"]
    token = found.group(1)
    page = client.post(f"/inscription/{token}/etape/1", data={"_action": "next", "seats": "2"},
                       content_type="multipart/form-data")
    assert page.status_code == 302 and page.headers["Location"].endswith("/recapitulatif")
    return token
