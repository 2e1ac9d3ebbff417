"""CSRF: every state-changing rule outside the token-authenticated API refuses a request without
a CSRF token, for anonymous visitors and signed-in accounts alike."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask import Flask
from test_authorisation import ACCESS, build_world, endpoints

from inscriptions.extensions import db
from inscriptions.models import Household

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def _unsafe_endpoints(app: Flask) -> dict[str, set[str]]:
    return {name: methods & UNSAFE for name, methods in endpoints(app).items()
            if methods & UNSAFE and not name.startswith("api.")}


def test_every_state_changing_rule_requires_a_csrf_token(make_app: Callable[..., Flask]) -> None:
    app = make_app(RATE_LIMITS_ENABLED=False)  # CSRF on, as in production
    world = build_world(app)
    unsafe = _unsafe_endpoints(app)
    assert len(unsafe) >= 20, "the enumeration found too few forms: is the url map loaded?"
    uncovered = sorted(set(unsafe) - set(ACCESS))
    assert not uncovered, f"no URL known for {uncovered}: add them to ACCESS in test_authorisation.py"
    for role in ("anonymous", "parent_b", "manager_x"):
        client = app.test_client()
        if role != "anonymous":
            with client.session_transaction() as session:
                session["_user_id"] = world.login_ids[role]
                session["_fresh"] = True
        for name, methods in sorted(unsafe.items()):
            url = ACCESS[name].url(world)
            for method in sorted(methods):
                response = client.open(url, method=method, data={"email": "x@example.fr"})
                assert response.status_code == 400, (role, name, method, response.status_code)


def test_the_api_is_exempt_because_it_takes_no_cookies(make_app: Callable[..., Flask]) -> None:
    """API calls authenticate by bearer token only: a browser's session cookie gives no access."""
    app = make_app(RATE_LIMITS_ENABLED=False)
    world = build_world(app)
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = world.login_ids["parent_b"]
    response = client.post("/api/v1/registrations", json={"service": "cantine", "participants": [{"child_id": 1}]})
    assert response.status_code == 401


def test_a_form_with_its_token_goes_through(app: Flask, make_household: Callable[..., Household]) -> None:
    client = app.test_client()
    page = client.get("/connexion").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    household = make_household()
    db.session.commit()
    response = client.post("/connexion", data={"csrf_token": token, "email": household.guardians[0].email,
                                               "password": "correct horse battery staple"})
    assert response.status_code == 302


@pytest.mark.parametrize("origin_check", [True])
def test_csrf_protection_is_on_by_default(app: Flask, origin_check: bool) -> None:
    assert app.config.get("WTF_CSRF_ENABLED", True) is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax" and app.config["REMEMBER_COOKIE_SAMESITE"] == "Lax"
