"""Fixtures of the family web tests: forms are posted with a real CSRF token read from the page."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest
from family_helpers import CANTEEN_ANSWERS, csrf_token_of
from flask import g
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from inscriptions.extensions import db
from inscriptions.models import Child, Household
from inscriptions.registrations.create import ParticipantInput, RegistrationInput, create_registrations


@pytest.fixture
def submit(client: FlaskClient) -> Callable[..., TestResponse]:
    """GET the form page (``page``, default ``url``) for its CSRF token, then POST ``data`` to ``url``."""

    def do_submit(
        url: str, data: Mapping[str, Any], *, page: str | None = None, follow_redirects: bool = False
    ) -> TestResponse:
        html = client.get(page or url, follow_redirects=True).get_data(as_text=True)
        return client.post(
            url, data={**data, "csrf_token": csrf_token_of(html)}, follow_redirects=follow_redirects
        )

    return do_submit


@pytest.fixture
def register_child() -> Callable[[Household, Child], None]:
    """Register ``child`` for the canteen through the one creation function (web channel)."""

    def do_register(household: Household, child: Child) -> None:
        create_registrations(
            RegistrationInput(
                service_code="cantine",
                household_id=household.id,
                participants=[ParticipantInput(child_id=child.id, answers=CANTEEN_ANSWERS)],
                channel="web",
            )
        )
        db.session.expire_all()
        # The confirmation e-mail was rendered in the test's request context, where Flask-Login
        # cached an anonymous user on ``g``; the test client's requests share that app context.
        g.pop("_login_user", None)

    return do_register

