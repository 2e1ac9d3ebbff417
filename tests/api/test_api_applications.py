"""Applications through the API: 202 with where to follow them, then their state, in both
allocation modes (decided in the request, or by the allocator a moment later)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from api_helpers import CANTEEN_ANSWERS, atelier_definition
from flask_babel import gettext

from inscriptions.allocation import rules
from inscriptions.allocation.status import REASONS
from inscriptions.allocation.worker import drain
from inscriptions.extensions import db
from inscriptions.models import Application, Registration

KID = dt.date(2018, 3, 1)


def _body(household: Any, **extra: Any) -> dict[str, Any]:
    return {"service": "atelier", "answers": {"level": "a"},
            "participants": [{"child_id": c.id} for c in household.children], **extra}


def _counts() -> tuple[int, int]:
    db.session.rollback()
    return (db.session.scalar(db.select(db.func.count(Application.id))),
            db.session.scalar(db.select(db.func.count(Registration.id))))


@pytest.fixture
def atelier(with_atelier) -> None:  # type: ignore[no-untyped-def]
    """The atelier with up to two wishes, each a session and one alternative: Wednesday has 2 places,
    Friday 1, Saturday 5."""
    sessions = atelier_definition()["sessions"] + [
        {"code": "vendredi", "label": "Vendredi 17 h", "starts_at": "2026-10-09T17:00:00", "capacity": 1}]
    with_atelier(capacity=2, alternatives=1, sessions_choice={"min": 1, "max": 2}, sessions=sessions)


def test_inline_application_is_decided_when_read(api, make_household, parent_token, atelier) -> None:  # type: ignore[no-untyped-def]
    first = make_household(last_name="Avant", children=[("Léa", KID), ("Tom", KID)])
    # Two children: both get Wednesday; both wait together for Friday (one place).
    assert api("POST", "/applications", parent_token(first),
               json=_body(first, wishes=[["mercredi"], ["vendredi"]])).status_code == 202
    family = make_household(last_name="Durand", children=[("Zoé", KID)])
    token = parent_token(family)
    # Wednesday is full: the first wish takes its alternative (Saturday); the second queues for Friday
    # behind the Avant children.
    response = api("POST", "/applications", token, json=_body(family, wishes=[["mercredi", "samedi"], ["vendredi"]]))
    assert response.status_code == 202, response.get_json()
    accepted = response.get_json()
    application = db.session.get(Application, accepted["application_id"])
    assert accepted == {
        "application_id": application.id, "public_id": f"ATL-D{application.queue_number:06d}",
        "service": "atelier", "batch": application.batch, "status": "decided", "replayed": False,
        "status_url": f"/api/v1/applications/{application.id}", "send_url": None, "opens_at": None,
    }
    assert response.headers["Location"].endswith(f"/api/v1/applications/{application.id}")

    state = api("GET", f"/applications/{application.id}", token)
    assert state.status_code == 200
    body = state.get_json()
    assert body["status"] == "decided" and body["place_in_line"] is None
    assert body["public_id"] == accepted["public_id"] and body["service_name"] == "Atelier poterie"
    assert body["wishes"] == [["mercredi", "samedi"], ["vendredi"]]
    assert body["channel"] == "api" and body["household_id"] == family.id
    assert body["submitted_at"] == "2026-09-15T08:00:00Z" and body["decided_at"] is not None
    first_wish, second_wish = body["results"]
    regs = {r.session.code: r for r in db.session.scalars(
        db.select(Registration).where(Registration.application_id == application.id))}
    assert first_wish == {
        "wish": 1, "session": "samedi", "session_label": "Samedi 10 h", "rank": 2, "outcome": "accepted",
        "reason": rules.FITS, "reason_text": str(REASONS[rules.FITS]),
        "registrations": [{"registration_id": regs["samedi"].id, "reference": regs["samedi"].reference,
                           "participant": "Zoé Durand", "status": "accepted", "waitlist_position": None}],
    }
    assert (second_wish["session"], second_wish["rank"], second_wish["outcome"], second_wish["reason"]) == (
        "vendredi", 1, "waitlisted", rules.QUEUE)
    [line] = second_wish["registrations"]
    # Entries are counted, not people: the Avant siblings are one entry ahead.
    assert (line["reference"], line["status"], line["waitlist_position"]) == (
        regs["vendredi"].reference, "waitlisted", 2)
    # The reason is read in French.
    assert second_wish["reason_text"] == str(REASONS[rules.QUEUE]) and "attend" in second_wish["reason_text"]


def test_worker_mode_pending_with_place_in_line_then_decided(app, api, make_household, parent_token, staff,  # type: ignore[no-untyped-def]
                                                             token_for, atelier) -> None:
    app.config["ALLOCATION"] = "worker"
    families = [make_household(last_name=f"F{n}") for n in range(3)]
    ids = []
    for family in families:
        response = api("POST", "/applications", parent_token(family), json=_body(family, session="mercredi"))
        assert response.status_code == 202, response.get_json()
        assert response.get_json()["status"] == "pending"
        ids.append(response.get_json()["application_id"])
    assert _counts() == (3, 0)

    agent_token = token_for(staff("agent", "atelier"))
    pending = [api("GET", f"/applications/{i}", agent_token).get_json() for i in ids]
    assert [p["status"] for p in pending] == ["pending"] * 3
    assert [p["place_in_line"] for p in pending] == [1, 2, 3]
    assert all(p["results"] == [] and p["decided_at"] is None for p in pending)
    # The POST /registrations of the same mode still answers 201 with nothing decided yet.
    late = make_household(last_name="Tard")
    old_style = api("POST", "/registrations", parent_token(late), json=_body(late, session="mercredi"))
    assert old_style.status_code == 201 and old_style.get_json()["status"] == "pending"
    assert old_style.get_json()["registrations"] == []

    assert drain("atelier") == 4
    decided = [api("GET", f"/applications/{i}", parent_token(f)).get_json() for i, f in zip(ids, families, strict=True)]
    assert [d["status"] for d in decided] == ["decided"] * 3
    assert [d["results"][0]["outcome"] for d in decided] == ["accepted", "accepted", "waitlisted"]
    assert [d["results"][0]["registrations"][0]["waitlist_position"] for d in decided] == [None, None, 1]
    assert all(d["place_in_line"] is None for d in decided)


def test_worker_mode_refusal_is_read_in_the_results(app, api, make_household, parent_token, atelier) -> None:  # type: ignore[no-untyped-def]
    app.config["ALLOCATION"] = "worker"
    family = make_household()
    token = parent_token(family)
    first = api("POST", "/applications", token, json=_body(family, session="samedi")).get_json()
    again = api("POST", "/applications", token, json=_body(family, session="samedi")).get_json()
    drain("atelier")
    assert api("GET", f"/applications/{first['application_id']}", token).get_json()["results"][0]["outcome"] == (
        "accepted")
    [result] = api("GET", f"/applications/{again['application_id']}", token).get_json()["results"]
    assert (result["outcome"], result["reason"], result["session"], result["registrations"]) == (
        "refused", rules.DUPLICATE, None, [])
    assert result["reason_text"] == str(REASONS[rules.DUPLICATE])


def test_only_the_household_and_the_service_staff_read_it(api, make_household, parent_token, staff,  # type: ignore[no-untyped-def]
                                                          token_for, atelier) -> None:
    family = make_household(last_name="Durand")
    agent_token = token_for(staff("agent", "atelier"))
    # An agent keys it at the counter: the family reads it too.
    response = api("POST", "/applications", agent_token, json=_body(family, session="samedi", household_id=family.id,
                                                                      channel="phone"))
    assert response.status_code == 202, response.get_json()
    url = f"/applications/{response.get_json()['application_id']}"
    assert api("GET", url, parent_token(family)).get_json()["channel"] == "phone"
    assert api("GET", url, agent_token).status_code == 200
    assert api("GET", url, token_for(staff("admin"))).status_code == 200
    other = make_household(last_name="Autre")
    missing = api("GET", "/applications/999999", parent_token(other))
    for token in (parent_token(other), token_for(staff("agent", "piscine")), token_for(staff("dpo"))):
        hidden = api("GET", url, token)
        assert hidden.status_code == 404
        assert hidden.get_json() == missing.get_json()
    for odd in ("abc", "0", "-1", "99999999999", "1.5"):
        assert api("GET", f"/applications/{odd}", agent_token).status_code == 404
    assert api("GET", url).status_code == 401


def test_idempotency_key_replays_the_same_application(api, make_household, parent_token, atelier) -> None:  # type: ignore[no-untyped-def]
    family = make_household()
    token = parent_token(family)
    first = api("POST", "/applications", token, json=_body(family, session="samedi"),
                headers={"Idempotency-Key": "app-1"})
    again = api("POST", "/applications", token, json=_body(family, session="samedi", idempotency_key="app-1"))
    assert first.status_code == again.status_code == 202
    assert again.get_json() == {**first.get_json(), "replayed": True}
    assert _counts() == (1, 1)
    # Another booking under the same key is a conflict, as for registrations.
    other = api("POST", "/applications", token, json=_body(family, session="mercredi", service="cantine"),
                headers={"Idempotency-Key": "app-1"})
    assert other.status_code == 409 and other.get_json()["error"]["code"] == "key_reused"
    mismatch = api("POST", "/applications", token, json=_body(family, session="samedi", idempotency_key="a"),
                   headers={"Idempotency-Key": "b"})
    assert mismatch.status_code == 422 and set(mismatch.get_json()["error"]["fields"]) == {"idempotency_key"}


def test_refusals_and_invalid_bodies(api, make_household, parent_token, staff, token_for, atelier) -> None:  # type: ignore[no-untyped-def]
    family = make_household()
    token = parent_token(family)
    both = api("POST", "/applications", token, json=_body(family, session="samedi", wishes=[["samedi"]]))
    assert both.status_code == 422 and set(both.get_json()["error"]["fields"]) == {"wishes"}
    for wishes, field in (([], "wishes"), ([[]], "wishes.0"), ([["x" * 41]], "wishes.0.0"), ("samedi", "wishes")):
        response = api("POST", "/applications", token, json=_body(family, wishes=wishes))
        assert response.status_code == 422, wishes
        assert set(response.get_json()["error"]["fields"]) == {field}, wishes
    # The engine's own checks, with its French messages.
    unknown = api("POST", "/applications", token, json=_body(family, wishes=[["dimanche"]]))
    assert unknown.status_code == 422
    assert unknown.get_json()["error"]["general"] == [gettext("This session is not offered: choose another one.")]
    too_many = api("POST", "/applications", token, json=_body(family, wishes=[["mercredi"], ["samedi"], ["vendredi"]]))
    assert too_many.status_code == 422
    # Inline: a wish that cannot be kept at all is refused with nothing saved.
    assert api("POST", "/applications", token, json=_body(family, session="samedi")).status_code == 202
    duplicate = api("POST", "/applications", token, json=_body(family, session="samedi"))
    assert duplicate.status_code == 422
    assert _counts() == (1, 1)
    # Who may book whom: the rules of POST /registrations.
    other = make_household(last_name="Autre")
    assert api("POST", "/applications", token, json=_body(other, household_id=other.id,
                                                          session="samedi")).status_code == 403
    assert api("POST", "/applications", token_for(staff("agent", "piscine")),
               json=_body(other, household_id=other.id, session="samedi")).status_code == 403
    staff_channel = api("POST", "/applications", token, json=_body(family, session="samedi", channel="counter"))
    assert staff_channel.status_code == 403
    assert api("POST", "/applications", token, data="x", content_type="text/plain").status_code == 415
    assert _counts() == (1, 1)


def test_prepared_then_sent_at_opening(app, api, make_household, parent_token, staff, token_for) -> None:  # type: ignore[no-untyped-def]
    """``send: false`` checks and keeps the application; the send is one light request; sending
    again answers the same; another household cannot send it; staff of the service can."""
    app.config["ALLOCATION"] = "worker"
    family, other = make_household(), make_household(last_name="Durand")
    token = parent_token(family)
    body = {"service": "cantine", "participants": [{"child_id": family.children[0].id}],
            "answers": {**CANTEEN_ANSWERS, "days": ["thu"]}, "send": False}
    prepared = api("POST", "/applications", token, json=body)
    assert prepared.status_code == 201, prepared.get_json()
    out = prepared.get_json()
    assert out["status"] == "prepared" and out["public_id"] == ""
    send_url = out["send_url"].split("/api/v1")[1]
    assert api("POST", send_url, parent_token(other)).status_code == 404
    sent = api("POST", send_url, token)
    assert sent.status_code == 202, sent.get_json()
    assert sent.get_json()["status"] == "pending" and sent.get_json()["public_id"].startswith("CAN-D")
    again = api("POST", send_url, token).get_json()
    assert again["replayed"] and again["public_id"] == sent.get_json()["public_id"]
    drain("cantine")
    assert api("GET", sent.headers["Location"].split("/api/v1")[1], token).get_json()["status"] == "decided"

    # An agent of the service sends what it prepared for a family keyed at the desk.
    agent = token_for(staff("agent", "cantine"))
    keyed = api("POST", "/applications", agent, json={**body, "household_id": other.id,
                                                      "participants": [{"child_id": other.children[0].id}]})
    assert keyed.status_code == 201, keyed.get_json()
    assert api("POST", keyed.get_json()["send_url"].split("/api/v1")[1], agent).status_code == 202


def test_the_send_checks_its_token_in_its_one_transaction(app, api, make_household, parent_token, staff,  # type: ignore[no-untyped-def]
                                                         token_for) -> None:
    """The send authenticates inside its own transaction: one commit for the whole request; an
    unknown or revoked token and staff of another service send nothing."""
    app.config["ALLOCATION"] = "worker"
    family = make_household()
    token = parent_token(family)
    body = {"service": "cantine", "participants": [{"child_id": family.children[0].id}],
            "answers": {**CANTEEN_ANSWERS, "days": ["thu"]}, "send": False}
    send_url = api("POST", "/applications", token, json=body).get_json()["send_url"].split("/api/v1")[1]
    assert api("POST", send_url, "insc_" + "x" * 43).status_code == 401
    assert api("POST", send_url, token_for(staff("agent", "piscine"))).status_code == 404
    db.session.rollback()
    assert db.session.scalar(db.select(Application.status).filter_by(household_id=family.id)) == "prepared"

    db.session.rollback()  # the test's own reads end here (the client shares the session)
    commits: list[int] = []

    def count_commit(conn) -> None:  # type: ignore[no-untyped-def]
        commits.append(1)

    db.event.listen(db.engine, "commit", count_commit)
    try:
        sent = api("POST", send_url, token)
    finally:
        db.event.remove(db.engine, "commit", count_commit)
    assert sent.status_code == 202 and len(commits) == 1
    db.session.rollback()
    assert db.session.scalar(db.select(Application.status).filter_by(household_id=family.id)) == "pending"


def test_a_prepared_application_is_not_sent_before_it_opens(app, api, make_household, parent_token,  # type: ignore[no-untyped-def]
                                                             frozen_clock) -> None:
    family = make_household()
    token = parent_token(family)
    frozen_clock(dt.datetime(2026, 5, 20, 8, 0, tzinfo=dt.UTC))  # before the canteen opens (1 June)
    prepared = api("POST", "/applications", token, json={
        "service": "cantine", "participants": [{"child_id": family.children[0].id}],
        "answers": {**CANTEEN_ANSWERS, "days": ["thu"]}, "send": False})
    assert prepared.status_code == 201, prepared.get_json()
    assert prepared.get_json()["opens_at"] is not None
    early = api("POST", prepared.get_json()["send_url"].split("/api/v1")[1], token)
    assert early.status_code == 409 and early.get_json()["error"]["code"] == "not_open"
