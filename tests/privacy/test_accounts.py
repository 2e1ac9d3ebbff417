"""Inactive accounts (warning, then deletion) and the family's own account deletion."""

from __future__ import annotations

import datetime as dt

from privacy_helpers import PASSWORD, account_of, upload_for
from sqlalchemy import func, select

from inscriptions.audit import Action
from inscriptions.extensions import db
from inscriptions.models import Account, AuditEvent, Household, Registration, Status, Upload
from inscriptions.privacy.purge import purge

UTC = dt.UTC
# Accounts are created at 2026-09-15 08:00; 700 days later (730 - 30 days' warning) is 2028-08-15.
WARN_DAY = dt.datetime(2028, 8, 20, 8, 0, tzinfo=UTC)


def _count(model: type) -> int:
    return int(db.session.scalar(select(func.count()).select_from(model)) or 0)


def test_inactive_account_is_warned_then_deleted(app, make_household, staff, outbox, frozen_clock) -> None:
    active = make_household(last_name="Actif")
    sleeping = make_household(last_name="Dormant")
    paper = make_household(last_name="Papier", email=None, with_account=False)
    # Paper families have their own retention (tests/privacy/test_erasure_everywhere.py): longer
    # here, so that this test sees the account purge alone leave them alone.
    app.config["PAPER_HOUSEHOLD_RETENTION_MONTHS"] = 36
    agent = staff("agent", "atelier")
    sleeping_id, active_account = sleeping.id, account_of(active)

    frozen_clock(dt.datetime(2028, 8, 1, 8, 0, tzinfo=UTC))
    assert purge().accounts_warned == 0  # 686 days: not yet

    frozen_clock(WARN_DAY)
    report = purge()
    assert report.accounts_warned == 2 and report.accounts_deleted == 0
    assert sorted(m.to[0] for m in outbox) == sorted([account_of(active).email, account_of(sleeping).email])
    assert agent.deletion_warned_at is None  # staff accounts are not family accounts

    # Run again the same day: no second e-mail, nothing deleted.
    assert purge().accounts_warned == 0
    assert len(outbox) == 2

    # The active family logs in after the warning: its account is kept.
    db.session.expire_all()
    active_account = db.session.get(Account, active_account.id)
    active_account.last_login_at = dt.datetime(2028, 8, 25, 9, 0)
    db.session.commit()

    # 30 days after the warning (and two years of inactivity): the sleeping account goes.
    frozen_clock(dt.datetime(2028, 9, 18, 8, 0, tzinfo=UTC))
    assert purge(dry_run=True).accounts_deleted == 0  # warned 29 days ago only
    frozen_clock(dt.datetime(2028, 9, 20, 8, 0, tzinfo=UTC))
    dry = purge(dry_run=True)
    assert dry.accounts_deleted == 1
    assert db.session.get(Household, sleeping_id) is not None
    report = purge()
    assert report.accounts_deleted == 1
    db.session.expire_all()
    assert db.session.get(Household, sleeping_id) is None
    assert db.session.get(Household, active.id) is not None
    assert db.session.get(Household, paper.id) is not None  # paper families stay (no account to purge)
    assert db.session.get(Account, agent.id) is not None
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == Action.DELETE_ACCOUNT))
    assert event.household_id == sleeping_id and event.detail["by"] == "purge"


def test_account_in_use_at_the_counter_is_kept(app, make_household, book, frozen_clock) -> None:
    home = make_household()
    # Registered (say at the counter) for a session that has not ended by the warning date.
    from inscriptions.models import ServiceSession

    session_row = db.session.scalar(select(ServiceSession).filter_by(code="later"))
    session_row.starts_at = dt.datetime(2029, 3, 1, 8, 0)
    db.session.commit()
    book(home, session="later", answers={"level": "a"})
    frozen_clock(WARN_DAY)
    report = purge()
    assert report.accounts_warned == 0 and report.accounts_kept_in_use == 1


def test_parent_deletes_account_future_cancelled_past_anonymised(
        app, client, make_household, book, login, frozen_clock) -> None:
    home = make_household(children=[("Léa", dt.date(2018, 3, 1))])
    other = make_household(last_name="Voisin")
    token = upload_for(home)
    past = book(home, session="old", answers={"level": "a", "allergies": "X", "certificate": token})
    future = book(home, session="later", answers={"level": "a"})
    book(other, session="later", answers={"level": "b"})
    home_id, account_id = home.id, account_of(home).id
    # November 2026: the "old" session is over, "later" (March 2027) still to come.
    frozen_clock(dt.datetime(2026, 11, 5, 9, 0, tzinfo=UTC))
    login(home)

    page = client.get("/mon-foyer/donnees/supprimer")
    assert page.status_code == 200
    assert 'id="to-cancel"' in page.get_data(as_text=True)

    wrong = client.post("/mon-foyer/donnees/supprimer", data={"password": "nope", "confirm": "y"})
    assert wrong.status_code == 422
    unconfirmed = client.post("/mon-foyer/donnees/supprimer", data={"password": PASSWORD})
    assert unconfirmed.status_code == 422
    assert db.session.get(Account, account_id) is not None

    done = client.post("/mon-foyer/donnees/supprimer", data={"password": PASSWORD, "confirm": "y"})
    assert done.status_code == 302
    db.session.expire_all()
    assert db.session.get(Account, account_id) is None
    assert db.session.get(Household, home_id) is None
    assert _count(Upload) == 0
    fut = db.session.get(Registration, future.registration_ids[0])
    assert fut.status == Status.CANCELLED and fut.anonymised_at is not None and fut.household_id is None
    old = db.session.get(Registration, past.registration_ids[0])
    assert old.status == Status.ACCEPTED and old.anonymised_at is not None and old.answers == {}
    assert db.session.get(Household, other.id) is not None
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == Action.DELETE_ACCOUNT))
    assert event.household_id == home_id and event.detail["cancelled"] == 1 and event.detail["by"] == "family"
    # Logged out: the family area now asks to log in.
    assert client.get("/mon-foyer/donnees/").status_code == 302


def test_second_guardian_account_deletion_keeps_the_household(app, client, make_household, login) -> None:
    from inscriptions.models import Guardian

    home = make_household()
    second = Guardian(household_id=home.id, first_name="Alex", last_name="Martin", email="alex@example.fr")
    db.session.add(second)
    db.session.flush()
    other_account = Account(email="alex@example.fr", guardian_id=second.id)
    other_account.set_password(PASSWORD)
    db.session.add(other_account)
    db.session.commit()
    first_id = account_of(home).id
    login(home)
    assert client.post("/mon-foyer/donnees/supprimer", data={"password": PASSWORD, "confirm": "y"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Account, first_id) is None
    household = db.session.get(Household, home.id)
    assert household is not None and [g.first_name for g in household.guardians] == ["Alex"]
    assert len(household.children) == 1


def test_staff_cannot_use_the_family_data_pages(app, client, staff, login_as) -> None:
    login_as(staff("agent", "atelier"))
    for url in ("/mon-foyer/donnees/", "/mon-foyer/donnees/export.json", "/mon-foyer/donnees/export.pdf",
                "/mon-foyer/donnees/supprimer"):
        assert client.get(url).status_code == 403, url
