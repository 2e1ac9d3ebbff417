"""The audit log is append-only: written for every agent read and change, never updated or deleted."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from counter_helpers import canteen_answers, entry_key, setup_data, t
from flask import g
from sqlalchemy import event

from inscriptions.audit import Action, events_of_household, log_access
from inscriptions.extensions import db
from inscriptions.models import AuditEvent, Household
from inscriptions.models.audit import AppendOnlyError
from inscriptions.settings import PROJECT_ROOT


def test_log_access_appends_an_event(app, staff):
    agent = staff("agent", "cantine")
    logged = log_access(agent, Action.READ_HOUSEHOLD, 7, {"seen": [1, 2]}, "  Famille au guichet  ")
    db.session.commit()
    stored = db.session.get(AuditEvent, logged.id)
    assert (stored.actor_account_id, stored.action, stored.household_id, stored.detail, stored.reason) == (
        agent.id, "read_household", 7, {"seen": [1, 2]}, "Famille au guichet")
    assert stored.at == dt.datetime(2026, 9, 15, 8, 0)
    assert events_of_household(7) == [stored]


def test_an_event_cannot_be_changed_or_deleted(app):
    logged = log_access(None, Action.EXPORT, None)
    db.session.commit()
    logged.reason = "rewritten"
    with pytest.raises(AppendOnlyError):
        db.session.commit()
    db.session.rollback()
    db.session.delete(db.session.get(AuditEvent, logged.id))
    with pytest.raises(AppendOnlyError):
        db.session.commit()
    db.session.rollback()
    assert db.session.get(AuditEvent, logged.id).reason == ""


def test_no_code_updates_or_deletes_audit_events():
    """The only write path is log_access; the only delete is the purge by age (issue 5), which the
    journal's integrity module runs (oldest sealed entries, with a checkpoint: issue 17)."""
    offenders = []
    for path in (PROJECT_ROOT / "inscriptions").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if re.search(r"\b(update|delete)\(\s*AuditEvent\b", text) or re.search(
            r"(UPDATE|DELETE FROM)\s+audit_events", text, re.IGNORECASE
        ):
            offenders.append(str(path.relative_to(PROJECT_ROOT)))
    assert offenders == ["inscriptions/privacy/integrity.py"]


def test_a_whole_counter_visit_only_inserts_audit_rows(client, agent, make_household, open_household):
    statements: list[str] = []

    def record(_conn, _cursor, statement, _parameters, _context, _many):  # type: ignore[no-untyped-def]
        if "audit_events" in statement:
            statements.append(statement.strip().split()[0].upper())

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        # Search, open with a reason, read, create a household, key a form, read a registration.
        household = make_household(last_name="Audit")
        client.get("/guichet/", query_string={"q": "audit"})
        open_household(household.id, reason="phone")
        client.get(f"/guichet/foyers/{household.id}")
        client.post("/guichet/foyers/nouveau", data={
            "g1-first_name": "Jeanne", "g1-last_name": "Nouvelle", "address_line1": "1 place de la Mairie",
            "postcode": "99990", "city": "Villebelle", "access-reason": "counter", "child_lines": "3",
        })
        child = household.children[0].id
        url = f"/guichet/foyers/{household.id}/saisie/cantine"
        data = setup_data([child], channel="mail", received="12/09/2026")
        key = entry_key(client, url, data)
        response = client.post(url, data={**data, "_step": "entry", "_key": key, **canteen_answers(f"c{child}")})
        assert response.status_code == 302
        g.pop("_login_user", None)
        reference = db.session.execute(db.text("SELECT reference FROM registrations")).scalar_one()
        client.get(f"/guichet/inscriptions/{reference}")
    finally:
        event.remove(db.engine, "before_cursor_execute", record)

    assert statements
    assert set(statements) <= {"INSERT", "SELECT"}
    actions = [e.action for e in db.session.scalars(db.select(AuditEvent).order_by(AuditEvent.id))]
    # The page shown right after the reason form is not logged twice; the entry form, which shows
    # the household's people, is a read of its own.
    assert actions == ["search", "read_household", "create_household", "read_household", "register",
                       "read_registration"]
    created = db.session.scalar(db.select(Household).order_by(Household.id.desc()))
    assert [e.action for e in events_of_household(created.id)] == ["create_household"]
    # The search that found the family is in its history (no reason is asked to search); every
    # event after it carries the reason the agent gave when opening its file.
    history = events_of_household(household.id)
    assert history[0].action == "search"
    assert {e.reason for e in history[1:]} == {t("Phone call")}
