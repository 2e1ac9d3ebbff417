"""Token authentication of the API, and JSON (never HTML) errors under /api/."""

from __future__ import annotations

import datetime as dt

from inscriptions.api.tokens import LAST_USED_EVERY, hash_token, revoke_tokens
from inscriptions.extensions import db
from inscriptions.models import ApiToken


def _assert_json_error(response, status: int, code: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status
    assert response.is_json, response.data[:200]
    assert response.get_json()["error"]["code"] == code
    assert response.get_json()["error"]["message"]


def test_no_token_is_401_json(api) -> None:  # type: ignore[no-untyped-def]
    response = api("GET", "/me")
    _assert_json_error(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_unknown_and_malformed_tokens_are_401(api, staff, token_for) -> None:  # type: ignore[no-untyped-def]
    real = token_for(staff("agent", "cantine"))
    for header in (f"Bearer {real}x", "Bearer insc_nothing", f"Basic {real}", "Bearer", real, "Bearer " + "a" * 5000):
        _assert_json_error(api("GET", "/me", headers={"Authorization": header}), 401, "unauthorized")
    assert api("GET", "/me", real).status_code == 200


def test_revoked_token_and_inactive_account_are_401(api, staff, token_for) -> None:  # type: ignore[no-untyped-def]
    agent = staff("agent", "cantine")
    token = token_for(agent)
    other = token_for(agent)
    assert api("GET", "/me", token).status_code == 200
    assert revoke_tokens(agent) == 2
    _assert_json_error(api("GET", "/me", token), 401, "unauthorized")

    fresh = token_for(agent)
    agent.active = False
    db.session.commit()
    _assert_json_error(api("GET", "/me", fresh), 401, "unauthorized")
    _assert_json_error(api("GET", "/me", other), 401, "unauthorized")


def test_only_the_hash_is_stored_and_last_use_is_recorded(api, staff, token_for, frozen_clock) -> None:  # type: ignore[no-untyped-def]
    token = token_for(staff("admin"))
    row = db.session.scalar(db.select(ApiToken))
    assert row.token_hash == hash_token(token) and token not in row.token_hash
    assert row.last_used_at is None
    api("GET", "/me", token)
    db.session.refresh(row)
    first = row.last_used_at
    assert first == dt.datetime(2026, 9, 15, 8, 0)

    # Written at most every LAST_USED_EVERY, not on every request.
    frozen_clock(dt.datetime(2026, 9, 15, 8, 1, tzinfo=dt.UTC))
    api("GET", "/me", token)
    db.session.refresh(row)
    assert row.last_used_at == first
    frozen_clock(dt.datetime(2026, 9, 15, 8, 0, tzinfo=dt.UTC) + LAST_USED_EVERY)
    api("GET", "/me", token)
    db.session.refresh(row)
    assert row.last_used_at == dt.datetime(2026, 9, 15, 8, 5)


def test_me_tells_roles_and_household(api, staff, token_for, make_household, parent_token) -> None:  # type: ignore[no-untyped-def]
    agent = staff("agent", "cantine", email="guichet@mairie.test")
    staff("manager", "piscine", email="guichet@mairie.test")
    body = api("GET", "/me", token_for(agent)).get_json()
    assert body["email"] == "guichet@mairie.test"
    assert body["roles"] == [{"role": "agent", "service": "cantine"}, {"role": "manager", "service": "piscine"}]
    assert body["household"] is None

    household = make_household(last_name="Durand", children=[("Léa", dt.date(2018, 3, 1))])
    body = api("GET", "/me", parent_token(household)).get_json()
    assert body["roles"] == []
    assert body["household"]["id"] == household.id
    assert [c["first_name"] for c in body["household"]["children"]] == ["Léa"]


def test_errors_under_api_are_json_not_html(api, staff, token_for) -> None:  # type: ignore[no-untyped-def]
    token = token_for(staff("admin"))
    _assert_json_error(api("GET", "/nowhere", token), 404, "not_found")
    _assert_json_error(api("GET", "/nowhere"), 404, "not_found")
    response = api("DELETE", "/services", token)
    _assert_json_error(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]


def test_html_pages_keep_html_errors(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response.mimetype == "text/html"


def test_token_post_needs_no_csrf_but_cookie_is_not_enough(api, client, make_household, login, parent_token) -> None:  # type: ignore[no-untyped-def]
    household = make_household()
    # CSRF protection is on in these tests: a logged-in browser session gets no access to the API.
    login(household)
    response = client.post("/api/v1/registrations", json={"service": "cantine", "participants": [{}]})
    _assert_json_error(response, 401, "unauthorized")
    # The bearer token alone is enough (no CSRF token): the request reaches validation.
    response = api("POST", "/registrations", parent_token(household), json={"service": "cantine", "participants": []})
    _assert_json_error(response, 422, "validation_error")


def test_posts_to_unknown_api_urls_are_json_too(api) -> None:  # type: ignore[no-untyped-def]
    _assert_json_error(api("POST", "/nowhere", json={}), 404, "not_found")
    _assert_json_error(api("POST", "/services", json={}), 405, "method_not_allowed")
    _assert_json_error(api("DELETE", "/registrations"), 405, "method_not_allowed")
