"""Time travel through ``inscriptions privacy purge``: retention, dry run, files, idempotence."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from privacy_helpers import upload_for
from sqlalchemy import func, select

from inscriptions.audit import Action, log_access
from inscriptions.extensions import db
from inscriptions.models import AuditEvent, Registration, StatusChange, Upload
from inscriptions.models.audit import AppendOnlyError
from inscriptions.privacy.purge import purge

UTC = dt.UTC
PG = bool(os.environ.get("INSCRIPTIONS_TEST_DATABASE_URL"))
# The "old" session ended 2026-10-02 17:00 (Paris) = 15:00 UTC; retention 12 months.
BEFORE = dt.datetime(2027, 10, 1, 12, 0, tzinfo=UTC)
AFTER = dt.datetime(2027, 10, 3, 12, 0, tzinfo=UTC)


def _snapshot() -> list[tuple]:
    db.session.expire_all()
    return [(r.id, r.household_id, r.child_id, dict(r.answers), r.anonymised_at)
            for r in db.session.scalars(select(Registration).order_by(Registration.id))]


def test_purge_respects_retention_then_anonymises_keeping_statistics(
        app, make_household, book, frozen_clock, runner) -> None:
    home = make_household(children=[("Léa", dt.date(2018, 3, 1)), ("Tom", dt.date(2019, 5, 2))])
    token = upload_for(home)
    answers = {"level": "b", "allergies": "ARACHIDES-SECRET", "certificate": token,
               "contacts": [{"who": "Mamie", "health_note": "ASTHME-SECRET"}]}
    old = book(home, session="old", answers=answers)
    later = book(home, session="later", answers={"level": "a"})
    upload_path = Path(app.config["UPLOAD_DIR"]) / str(home.id) / token
    assert upload_path.is_file()
    stats_before = [(r.service_code, r.session_id, r.status, r.channel, r.created_at, r.reference)
                    for r in db.session.scalars(select(Registration).order_by(Registration.id))]

    # Before the retention is over: nothing changes (the CLI says so too).
    frozen_clock(BEFORE)
    before = _snapshot()
    result = runner.invoke(args=["privacy", "purge"])
    assert result.exit_code == 0, result.output
    assert "registrations anonymised: 0" in result.output
    assert _snapshot() == before
    assert upload_path.is_file()

    # After: dry run counts, changes nothing.
    frozen_clock(AFTER)
    result = runner.invoke(args=["privacy", "purge", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "[dry run] would have registrations anonymised: 2" in result.output
    assert "uploads deleted: 1" in result.output
    assert _snapshot() == before
    assert upload_path.is_file()
    assert db.session.scalar(select(func.count()).select_from(Upload)) == 1

    report = purge()
    assert report.registrations_anonymised == 2
    assert report.uploads_deleted == 1
    db.session.expire_all()
    regs = {r.id: r for r in db.session.scalars(select(Registration))}
    for reg_id in old.registration_ids:
        reg = regs[reg_id]
        assert reg.anonymised_at is not None
        assert reg.household_id is None and reg.child_id is None and reg.guardian_id is None
        assert reg.answers == {} and reg.mediation_reason == "" and reg.price_detail == []
        assert all(h.reason == "" for h in reg.history)
    # Statistics kept: service, session, status, channel, dates, reference.
    stats_after = [(r.service_code, r.session_id, r.status, r.channel, r.created_at, r.reference)
                   for r in db.session.scalars(select(Registration).order_by(Registration.id))]
    assert stats_after == stats_before
    # The later session's registrations are untouched (retention runs to 2028-03).
    for reg_id in later.registration_ids:
        assert regs[reg_id].anonymised_at is None and regs[reg_id].household_id == home.id
    assert not upload_path.exists() and not upload_path.parent.exists()
    assert db.session.scalar(select(func.count()).select_from(Upload)) == 0
    # No answer text is left anywhere in the registrations table.
    assert "SECRET" not in str([r.answers for r in regs.values()])
    # Logged to the audit log.
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == Action.PURGE)
                              .order_by(AuditEvent.id.desc()).limit(1))
    assert event is not None and event.detail["registrations_anonymised"] == 2

    # Idempotent: a second run finds nothing more.
    again = purge()
    assert again.registrations_anonymised == 0 and again.uploads_deleted == 0
    assert db.session.scalar(select(func.count()).select_from(StatusChange)) > 0


def test_upload_still_used_by_a_live_registration_is_kept(app, make_household, book, frozen_clock) -> None:
    home = make_household()
    token = upload_for(home)
    book(home, session="old", answers={"level": "a", "certificate": token})
    book(home, session="later", answers={"level": "a", "certificate": token})
    frozen_clock(AFTER)
    report = purge()
    assert report.registrations_anonymised == 1
    assert report.uploads_deleted == 0
    assert (Path(app.config["UPLOAD_DIR"]) / str(home.id) / token).is_file()


def test_audit_log_retention_and_append_only(app, make_household, frozen_clock) -> None:
    home = make_household()
    log_access(None, Action.READ_HOUSEHOLD, home.id, {"n": 1})
    db.session.commit()
    # Bulk deletes and updates outside the purge are refused, like single-row changes.
    from sqlalchemy import delete, update

    for statement in (delete(AuditEvent), update(AuditEvent).values(reason="x")):
        try:
            db.session.execute(statement)
        except AppendOnlyError:
            db.session.rollback()
        else:  # pragma: no cover - the assertion below reports it
            raise AssertionError(f"{statement} was allowed")
    event = db.session.scalar(select(AuditEvent))
    db.session.delete(event)
    try:
        db.session.flush()
    except AppendOnlyError:
        db.session.rollback()
    else:  # pragma: no cover
        raise AssertionError("a single audit row was deleted")

    # Eleven months later it is kept; after twelve (the default retention) it goes.
    frozen_clock(dt.datetime(2027, 8, 15, 8, 0, tzinfo=UTC))
    assert purge().audit_events_deleted == 0
    frozen_clock(dt.datetime(2027, 9, 16, 8, 0, tzinfo=UTC))
    assert purge(dry_run=True).audit_events_deleted == 1
    assert purge().audit_events_deleted == 1
    remaining = list(db.session.scalars(select(AuditEvent.action)))
    assert Action.READ_HOUSEHOLD not in remaining and Action.PURGE in remaining


def test_audit_retention_is_configurable(app, make_household, frozen_clock) -> None:
    home = make_household()
    log_access(None, Action.READ_HOUSEHOLD, home.id)
    db.session.commit()
    app.config["AUDIT_RETENTION_MONTHS"] = 6
    frozen_clock(dt.datetime(2027, 3, 16, 8, 0, tzinfo=UTC))
    assert purge().audit_events_deleted == 1


def test_anonymised_registration_in_staff_screens(app, client, make_household, book, frozen_clock) -> None:
    from flask import g

    from inscriptions.api.tokens import issue_token
    from inscriptions.permissions import grant_role

    home = make_household()
    outcome = book(home, session="old")
    reference = db.session.get(Registration, outcome.registration_ids[0]).reference
    frozen_clock(AFTER)
    purge()
    manager, _created, _granted = grant_role("manager@mairie.test", "manager", "atelier")
    secret = issue_token(manager, "test")
    db.session.commit()
    api = client.get(f"/api/v1/registrations/{reference}", headers={"Authorization": f"Bearer {secret}"})
    assert api.status_code == 200
    body = api.get_json()
    assert body["household_id"] is None and body["answers"] == {} and body["status"] == "accepted"
    g.pop("_login_user", None)
    with client.session_transaction() as session:
        session["_user_id"] = manager.get_id()
    assert client.get(f"/guichet/inscriptions/{reference}").status_code == 404


@pytest.mark.skipif(not PG, reason="the database trigger exists on PostgreSQL only")
def test_postgres_refuses_raw_sql_changes_of_the_audit_log(app, frozen_clock) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    log_access(None, Action.EXPORT, None)
    db.session.commit()
    for statement in ("UPDATE audit_events SET reason = 'x'", "DELETE FROM audit_events"):
        with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
            conn.execute(text(statement))
    # The purge path still works, and closes the door behind it.
    frozen_clock(dt.datetime(2028, 1, 1, tzinfo=UTC))
    assert purge().audit_events_deleted == 1
    with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events"))
