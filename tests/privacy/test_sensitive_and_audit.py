"""Sensitive answers hidden from agents, shown to managers; the audit log is the DPO's alone."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import g
from sqlalchemy import select

from inscriptions.api.tokens import issue_token
from inscriptions.audit import Action, log_access
from inscriptions.extensions import db
from inscriptions.models import AuditEvent, Registration, ScanBatch, ScanPage

SECRETS = ("ARACHIDES-SECRET", "ASTHME-SECRET")


def _open(client, household_id: int) -> None:
    response = client.post(f"/guichet/foyers/{household_id}/acces", data={"reason": "counter", "detail": ""})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    g.pop("_login_user", None)


@pytest.fixture
def booked(make_household, book) -> Registration:
    home = make_household()
    outcome = book(home, channel="paper")
    return db.session.get(Registration, outcome.registration_ids[0])


@pytest.mark.parametrize(("role", "shown"), [("agent", False), ("manager", True)])
def test_counter_registration_page(client, booked, staff, login_as, role, shown) -> None:
    account = login_as(staff(role, "atelier"))
    _open(client, booked.household_id)
    page = client.get(f"/guichet/inscriptions/{booked.reference}").get_data(as_text=True)
    assert "Mamie Jeanne" in page  # the non-sensitive part of the group stays
    for secret in SECRETS:
        assert (secret in page) is shown, secret
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == Action.READ_REGISTRATION,
                                                      AuditEvent.actor_account_id == account.id))
    assert event.registration_id == booked.id and event.detail["sensitive_shown"] is shown


def test_admin_does_not_read_sensitive_answers(client, booked, staff, login_as) -> None:
    login_as(staff("admin"))
    _open(client, booked.household_id)
    page = client.get(f"/guichet/inscriptions/{booked.reference}").get_data(as_text=True)
    assert booked.reference in page and not any(s in page for s in SECRETS)


@pytest.mark.parametrize(("role", "shown"), [("agent", False), ("manager", True)])
def test_api_for_agents(client, booked, staff, role, shown) -> None:
    secret = issue_token(staff(role, "atelier"), "test")
    db.session.commit()
    response = client.get(f"/api/v1/registrations/{booked.reference}", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 200
    answers = response.get_json()["answers"]
    assert ("allergies" in answers) is shown
    assert ("health_note" in answers["contacts"][0]) is shown
    assert answers["contacts"][0]["who"] == "Mamie Jeanne"


@pytest.mark.parametrize(("role", "shown"), [("agent", False), ("manager", True)])
def test_scan_evidence(client, booked, staff, login_as, role, shown) -> None:
    batch = ScanBatch(sha256="0" * 64, filename="scan.pdf", page_count=1, status="done")
    batch.pages.append(ScanPage(
        index=0, image_sha256="1" * 64, reading={}, status="registered", page=1, total=1,
        form_version_id=booked.form_version_id, registration_batch=booked.batch,
        machine_values={"level": "a", "allergies": "ARACHIDES-SECRET", "contacts.0.health_note": "ASTHME-SECRET"},
        confirmed_values={"participants": [dict(booked.answers)]},
    ))
    db.session.add(batch)
    db.session.commit()
    login_as(staff(role, "atelier"))
    response = client.get(f"/guichet/numerisation/preuves/{booked.batch}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    for secret in SECRETS:
        assert (secret in page) is shown, secret


# -- the audit log ------------------------------------------------------------------------------------

def test_journal_is_for_the_dpo_only(client, make_household, login, staff, login_as) -> None:
    home = make_household()
    assert client.get("/dpo/journal").status_code == 302  # anonymous: log in first
    assert client.get("/dpo/journal.csv").status_code == 302
    login(home)
    assert client.get("/dpo/journal").status_code == 403
    for role, service in (("agent", "atelier"), ("manager", "atelier"), ("admin", None)):
        login_as(staff(role, service))
        assert client.get("/dpo/journal").status_code == 403, role
        assert client.get("/dpo/journal.csv").status_code == 403, role
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == Action.READ_AUDIT_LOG)) is None


def test_dpo_filters_pages_and_exports_the_journal(client, make_household, staff, login_as, frozen_clock) -> None:
    home, other = make_household(), make_household(last_name="Autre")
    agent = staff("agent", "atelier")
    for i in range(60):
        log_access(agent, Action.READ_HOUSEHOLD, home.id, {"i": i}, "Famille au guichet")
    frozen_clock(dt.datetime(2026, 9, 20, 8, 0, tzinfo=dt.UTC))
    log_access(None, Action.EXPORT, other.id, {"kind": "csv"}, "=cmd|' /C calc'!A0")
    db.session.commit()
    dpo = login_as(staff("dpo"))

    page = client.get("/dpo/journal")
    assert page.status_code == 200
    assert page.get_data(as_text=True).count("data-event=") == 50  # 62 events (with this read): paginated
    assert client.get("/dpo/journal?page=2").get_data(as_text=True).count("data-event=") == 13
    by_household = client.get(f"/dpo/journal?household={other.id}").get_data(as_text=True)
    # The export, and the DPO's reads of the journal pages that showed it (this one included): a
    # page of the journal shows families' data too, so its read names their households.
    assert by_household.count('data-action="export"') == 1
    assert by_household.count("data-event=") == 3 and by_household.count('data-action="read_audit_log"') == 2
    by_actor = client.get(f"/dpo/journal?actor={agent.email}&action=read_household").get_data(as_text=True)
    assert by_actor.count("data-event=") == 50
    by_date = client.get("/dpo/journal?since=2026-09-20&until=2026-09-20&action=export").get_data(as_text=True)
    assert by_date.count("data-event=") == 1
    assert client.get("/dpo/journal?since=garbage&page=-4").status_code == 200
    reads = list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == Action.READ_AUDIT_LOG)))
    assert len(reads) == 6 and all(e.actor_account_id == dpo.id for e in reads)

    export = client.get(f"/dpo/journal.csv?household={other.id}")
    assert export.status_code == 200 and export.mimetype == "text/csv"
    lines = export.get_data(as_text=True).lstrip("\ufeff").strip().splitlines()
    assert lines[0].startswith("id;at_utc;actor_account_id")
    # The export event, and the DPO's reads of journal pages that showed it.
    [row] = [line for line in lines[1:] if ";export;" in line]
    assert ";'=cmd" in row  # no spreadsheet formula
    assert len(lines) == 6 and all(";read_audit_log;" in line for line in lines[1:] if line != row)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == Action.EXPORT_AUDIT_LOG))
    # The export names the households of the rows it holds (the journal pages read named both).
    assert event.actor_account_id == dpo.id and event.detail == {
        "household": str(other.id), "rows": 5, "households": sorted([home.id, other.id])}


@pytest.mark.parametrize(("role", "service", "shown"), [("admin", None, False), ("manager", "atelier", True)])
def test_back_office_registration_page(client, booked, staff, login_as, role, service, shown) -> None:
    login_as(staff(role, service))
    response = client.get(f"/gestion/atelier/inscriptions/{booked.reference}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Mamie Jeanne" in page
    for secret in SECRETS:
        assert (secret in page) is shown, secret


def test_staff_open_the_file_sent_with_a_registration(client, make_household, book, staff, login_as) -> None:  # type: ignore[no-untyped-def]
    from privacy_helpers import ANSWERS, upload_for

    home = make_household()
    token = upload_for(home)
    outcome = book(home, answers={**ANSWERS, "certificate": token})
    reg = db.session.get(Registration, outcome.registration_ids[0])
    stranger = make_household(last_name="Autre")
    theirs = upload_for(stranger)
    url = f"/gestion/atelier/inscriptions/{reg.reference}/documents/{token}"

    manager = login_as(staff("manager", "atelier"))
    page = client.get(f"/gestion/atelier/inscriptions/{reg.reference}").get_data(as_text=True)
    assert f'href="{url}"' in page  # the staff's link, not the family's
    response = client.get(url)
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert "no-store" in response.headers["Cache-Control"]
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == Action.READ_DOCUMENT))
    assert (event.actor_account_id, event.household_id, event.registration_id) == (manager.id, home.id, reg.id)
    # Only a file of this registration's answers: another household's token is not found.
    assert client.get(f"/gestion/atelier/inscriptions/{reg.reference}/documents/{theirs}").status_code == 404

    login_as(staff("agent", "atelier"))
    assert client.get(url).status_code == 200  # the certificate is not flagged sensitive here
    login_as(staff("dpo", None))  # no review of this service
    assert client.get(url).status_code == 403

