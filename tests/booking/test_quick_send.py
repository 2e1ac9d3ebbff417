"""The opening-morning send answered before Flask (inscriptions.quick_send): the same
answer as the full path when all is in order, and the full path's answer whenever it is not."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from booking_helpers import PG, captured_sql, registration_input, stage_definition
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select

from inscriptions.api.tokens import hash_token, issue_token
from inscriptions.extensions import db
from inscriptions.models import Account, ApiToken, Application, Household
from inscriptions.registrations.create import prepare_application

pytestmark = [pytest.mark.postgres,
              pytest.mark.skipif(not PG, reason="PostgreSQL only: set INSCRIPTIONS_TEST_DATABASE_URL")]

OPENING = dt.datetime(2026, 10, 1, 6, 30, tzinfo=dt.UTC)  # 08:30 in Paris
QUICK = "FROM who"  # only the quick path's statement reads the account in the send


@pytest.fixture
def prepared(app: Flask, install, make_household, login, client: FlaskClient):  # type: ignore[no-untyped-def]
    """A signed-in family with a prepared application, its page open (CSRF token in hand)."""
    install(stage_definition(capacity=1, opening="2026-10-01T08:30:00"))
    app.config.update(ALLOCATION="worker", WTF_CSRF_ENABLED=True)
    family = make_household()
    application_id = prepare_application(registration_input(family)).application_id
    login(family)
    page = client.get(f"/demandes/{application_id}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    db.session.commit()
    return family, application_id, token[1]


def state(application_id: int) -> tuple[str, int | None]:
    db.session.rollback()
    application = db.session.get(Application, application_id)
    return application.status, application.queue_number


def test_a_plain_send_is_one_statement_before_flask(prepared, client, frozen_clock) -> None:  # type: ignore[no-untyped-def]
    _family, application_id, token = prepared
    frozen_clock(OPENING + dt.timedelta(seconds=1))
    with captured_sql() as seen:
        sent = client.post(f"/demandes/{application_id}/envoyer", data={"csrf_token": token})
    assert sent.status_code == 303 and sent.headers["Location"] == f"/demandes/{application_id}"
    assert sent.headers["Cache-Control"] == "no-store" and "frame-ancestors" in sent.headers["Content-Security-Policy"]
    statements = [s for s in seen if not s.startswith("BEGIN")]
    assert len(statements) == 1 and QUICK in statements[0], statements
    status, number = state(application_id)
    assert status == "pending" and number is not None
    # A double click: the full path answers with the same application, nothing numbered twice.
    again = client.post(f"/demandes/{application_id}/envoyer", data={"csrf_token": token})
    assert again.status_code == 303 and again.headers["Location"] == f"/demandes/{application_id}"
    assert state(application_id) == ("pending", number)


@pytest.mark.parametrize("form", [{}, {"csrf_token": "forged.token.value"}])
def test_a_missing_or_forged_token_is_refused_as_before(prepared, client, frozen_clock, form) -> None:  # type: ignore[no-untyped-def]
    _family, application_id, _token = prepared
    frozen_clock(OPENING)
    refused = client.post(f"/demandes/{application_id}/envoyer", data=form)
    assert refused.status_code == 400 and "expiré" in refused.get_data(as_text=True)
    assert state(application_id) == ("prepared", None)


def test_a_token_from_another_session_is_refused(prepared, app, make_household, login, frozen_clock) -> None:  # type: ignore[no-untyped-def]
    _family, application_id, token = prepared
    other = app.test_client()
    with other.session_transaction() as session:
        session["csrf_token"] = "another session's token"
    frozen_clock(OPENING)
    assert other.post(f"/demandes/{application_id}/envoyer", data={"csrf_token": token}).status_code == 400
    assert state(application_id) == ("prepared", None)


def test_a_session_ended_by_log_out_sends_nothing(prepared, client, frozen_clock) -> None:  # type: ignore[no-untyped-def]
    _family, application_id, token = prepared
    with client.session_transaction() as session:
        copied = dict(session)
    client.post("/deconnexion", data={"csrf_token": token})
    with client.session_transaction() as session:  # the cookie copied before the log-out, replayed
        session.update(copied)
    frozen_clock(OPENING)
    replayed = client.post(f"/demandes/{application_id}/envoyer", data={"csrf_token": token})
    assert replayed.status_code == 302 and "/connexion" in replayed.headers["Location"]
    assert state(application_id) == ("prepared", None)


def test_before_opening_the_full_path_says_when(prepared, client) -> None:  # type: ignore[no-untyped-def]
    _family, application_id, token = prepared
    early = client.post(f"/demandes/{application_id}/envoyer", data={"csrf_token": token}, follow_redirects=True)
    assert "1 octobre 2026" in early.get_data(as_text=True)
    assert state(application_id) == ("prepared", None)


def test_another_family_cannot_send_it(prepared, app, make_household, frozen_clock) -> None:  # type: ignore[no-untyped-def]
    _family, application_id, _token = prepared
    intruder: Household = make_household(last_name="Autre")
    other = app.test_client()
    account = db.session.scalar(select(Account).filter_by(guardian_id=intruder.guardians[0].id))
    with other.session_transaction() as session:
        session["_user_id"] = account.get_id()
        session["csrf_token"] = "raw"
    token = URLSafeTimedSerializer(app.secret_key, salt="wtf-csrf-token").dumps("raw")
    frozen_clock(OPENING)
    assert other.post(f"/demandes/{application_id}/envoyer", data={"csrf_token": token}).status_code == 404
    assert state(application_id) == ("prepared", None)


def test_over_https_a_foreign_referrer_is_refused(prepared, client, frozen_clock) -> None:  # type: ignore[no-untyped-def]
    _family, application_id, token = prepared
    frozen_clock(OPENING)
    url = f"https://localhost/demandes/{application_id}/envoyer"
    foreign = client.post(url, data={"csrf_token": token}, headers={"Referer": "https://evil.example/"})
    assert foreign.status_code == 400
    assert state(application_id) == ("prepared", None)
    ours = client.post(url, data={"csrf_token": token}, headers={"Referer": f"https://localhost/demandes/{application_id}"})
    assert ours.status_code == 303 and state(application_id)[0] == "pending"


def test_the_web_answer_is_the_full_paths(app, install, make_household, login, client, frozen_clock) -> None:  # type: ignore[no-untyped-def]
    install(stage_definition(capacity=1, opening="2026-10-01T08:30:00"))
    app.config.update(ALLOCATION="worker", WTF_CSRF_ENABLED=True)
    answers = []
    for quick in (False, True):
        family = make_household(last_name=f"Q{quick}")
        application_id = prepare_application(registration_input(family)).application_id
        login(family)
        page = client.get(f"/demandes/{application_id}").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]
        db.session.commit()
        app.config["QUICK_SEND"] = quick
        frozen_clock(OPENING)
        with captured_sql() as seen:
            sent = client.post(f"/demandes/{application_id}/envoyer", data={"csrf_token": token})
        assert any(QUICK in s for s in seen) is quick
        frozen_clock(dt.datetime(2026, 9, 15, 6, 0, tzinfo=dt.UTC))
        skip = ("Set-Cookie", "Vary", "Content-Length", "Location")
        answers.append((sent.status_code, sent.headers["Location"].replace(str(application_id), "<id>"),
                        {k: v for k, v in sent.headers.items() if k not in skip}))
        assert state(application_id)[0] == "pending"
    assert answers[0] == answers[1]


@pytest.fixture
def tokens(app: Flask, install, make_household, staff):  # type: ignore[no-untyped-def]
    """Two families with an API token and a prepared application each; an agent of the service
    and one of another service, with a token each."""
    install(stage_definition(capacity=1, opening="2026-10-01T08:30:00"),
            stage_definition(code="atelier", reference_prefix="ATL"))
    app.config.update(ALLOCATION="worker")
    made = {}
    for name in ("first", "second"):
        family = make_household(last_name=name)
        application_id = prepare_application(registration_input(family, channel="api")).application_id
        account = db.session.scalar(select(Account).filter_by(guardian_id=family.guardians[0].id))
        made[name] = (issue_token(account, "app"), application_id)
    made["agent"] = (issue_token(staff("agent", "stage"), "guichet"), None)
    made["elsewhere"] = (issue_token(staff("agent", "atelier"), "guichet"), None)
    return made


def api_send(client: FlaskClient, secret: str, application_id: int) -> tuple[object, list[str]]:
    with captured_sql() as seen:
        reply = client.post(f"/api/v1/applications/{application_id}/send",
                            headers={"Authorization": f"Bearer {secret}"})
    return reply, seen


def test_a_family_token_sends_its_own_application_in_one_statement(tokens, client, app, frozen_clock) -> None:  # type: ignore[no-untyped-def]
    frozen_clock(OPENING)
    secret, application_id = tokens["first"]
    reply, seen = api_send(client, secret, application_id)
    statements = [s for s in seen if not s.startswith("BEGIN")]
    assert reply.status_code == 202 and len(statements) == 1 and "FROM owner" in statements[0], statements
    status, number = state(application_id)
    assert status == "pending" and reply.get_json()["public_id"] == f"STG-D{number:06d}"
    assert reply.headers["Location"] == f"/api/v1/applications/{application_id}"
    assert db.session.scalar(select(ApiToken.last_used_at).where(ApiToken.token_hash == hash_token(secret))) is not None
    # The full path gives the same answer for the other family (its own number and ids aside).
    app.config["QUICK_SEND"] = False
    other_secret, other_id = tokens["second"]
    full, seen = api_send(client, other_secret, other_id)
    assert full.status_code == 202 and not any("FROM owner" in s for s in seen)
    expected = {**full.get_json(), "application_id": application_id, "public_id": f"STG-D{number:06d}",
                "status_url": f"/api/v1/applications/{application_id}", "batch": reply.get_json()["batch"]}
    assert reply.get_json() == expected
    skip = ("Location", "Content-Length", "Vary")  # Vary: Cookie, from reading a session the API never uses
    assert {k: v for k, v in reply.headers.items() if k not in skip} == \
        {k: v for k, v in full.headers.items() if k not in skip}


def test_a_family_token_cannot_send_another_familys_application(tokens, client, frozen_clock) -> None:  # type: ignore[no-untyped-def]
    frozen_clock(OPENING)
    reply, _seen = api_send(client, tokens["first"][0], tokens["second"][1])
    assert reply.status_code == 404 and reply.get_json()["error"]["code"] == "not_found"
    assert state(tokens["second"][1]) == ("prepared", None)


def test_an_agent_sends_in_their_service_only(tokens, client, frozen_clock) -> None:  # type: ignore[no-untyped-def]
    frozen_clock(OPENING)
    application_id = tokens["first"][1]
    refused, _seen = api_send(client, tokens["elsewhere"][0], application_id)
    assert refused.status_code == 404 and state(application_id) == ("prepared", None)
    sent, seen = api_send(client, tokens["agent"][0], application_id)
    assert sent.status_code == 202 and any("FROM owner" in s for s in seen)
    assert state(application_id)[0] == "pending"


def test_unknown_tokens_early_sends_and_bodies_get_the_full_paths_answers(tokens, client, frozen_clock) -> None:  # type: ignore[no-untyped-def]
    secret, application_id = tokens["first"]
    early, _seen = api_send(client, secret, application_id)
    assert early.status_code == 409 and early.get_json()["error"]["code"] == "not_open"
    frozen_clock(OPENING)
    unknown, _seen = api_send(client, "insc_" + "x" * 43, application_id)
    assert unknown.status_code == 401
    with_body = client.post(f"/api/v1/applications/{application_id}/send", data="\x00",
                            headers={"Authorization": f"Bearer {secret}", "Content-Type": "text/plain"})
    assert with_body.status_code in (202, 400)  # whatever the full path says of a body it ignores
    assert state(application_id)[0] == ("pending" if with_body.status_code == 202 else "prepared")
