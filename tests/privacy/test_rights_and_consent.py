"""The family's rights (data download) and photo consent, with their audit entries."""

from __future__ import annotations

import datetime as dt
import json

import pypdfium2 as pdfium
from privacy_helpers import upload_for
from sqlalchemy import select

from inscriptions.audit import Action
from inscriptions.extensions import db
from inscriptions.models import AuditEvent, PhotoConsent

UTC = dt.UTC


def _pdf_text(data: bytes) -> str:
    pdf = pdfium.PdfDocument(data)
    return "\n".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))


def test_download_all_data_json_and_pdf(app, client, make_household, book, login) -> None:
    home = make_household(last_name="Lefebvre", children=[("Zoé", dt.date(2018, 3, 1))])
    other = make_household(last_name="Autrefamille")
    token = upload_for(home)
    outcome = book(home, answers={"level": "a", "allergies": "ARACHIDES", "certificate": token,
                                  "contacts": [{"who": "Mamie", "health_note": "ASTHME"}]})
    book(other)
    login(home)

    response = client.get("/mon-foyer/donnees/export.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert "attachment" in response.headers["Content-Disposition"]
    data = json.loads(response.get_data(as_text=True))
    assert {"tables", "actors", "files", "left_out", "generated_at", "format_version"} <= set(data)
    tables = data["tables"]
    assert tables["children"][0]["first_name"] == "Zoé"
    assert tables["accounts"][0]["email"] == home.guardians[0].email
    assert len(tables["registrations"]) == 1
    reg = tables["registrations"][0]
    assert reg["answers"]["allergies"] == "ARACHIDES"  # the family sees its own sensitive answers
    assert reg["status"] == "accepted"
    assert [h["registration_id"] for h in tables["status_changes"]] == [reg["id"]]
    assert tables["uploads"][0]["filename"] == "certificat.png"
    assert "Autrefamille" not in response.get_data(as_text=True)
    assert outcome.registration_ids

    pdf = client.get("/mon-foyer/donnees/export.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    text = _pdf_text(pdf.data)
    assert "Zoé Lefebvre" in text and "ARACHIDES" in text and "certificat.png" in text
    assert "Autrefamille" not in text

    events = list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == Action.DOWNLOAD_OWN_DATA)))
    assert [(e.household_id, e.detail["format"]) for e in events] == [(home.id, "json"), (home.id, "pdf")]
    # The family's own downloads are listed in its history as its own, not as staff's.
    again = json.loads(client.get("/mon-foyer/donnees/export.json").get_data(as_text=True))
    own = [e for e in again["tables"]["audit_events"] if e["action"] == Action.DOWNLOAD_OWN_DATA]
    assert len(own) == 2
    assert {again["actors"][str(e["actor_account_id"])]["kind"] for e in own} == {"family"}


def test_family_pages_need_a_log_in(client) -> None:
    for url in ("/mon-foyer/donnees/", "/mon-foyer/donnees/export.json", "/mon-foyer/donnees/export.pdf",
                "/mon-foyer/donnees/supprimer"):
        response = client.get(url)
        assert response.status_code == 302 and "/connexion" in response.headers["Location"], url


def test_photo_consent_given_withdrawn_dated_with_history(
        app, client, make_household, book, login, login_as, staff, frozen_clock) -> None:
    home = make_household(children=[("Léa", dt.date(2018, 3, 1))])
    stranger = make_household(last_name="Autre")
    book(home)
    child = home.children[0]
    url = f"/mon-foyer/donnees/photos/{child.id}/atelier"
    login(home)
    page = client.get("/mon-foyer/donnees/")
    assert page.status_code == 200
    assert f'data-child="{child.id}" data-service="atelier" data-consent="none"' in page.get_data(as_text=True)

    frozen_clock(dt.datetime(2026, 9, 20, 10, 0, tzinfo=UTC))
    assert client.post(url, data={"action": "give"}).status_code == 302
    frozen_clock(dt.datetime(2026, 10, 1, 10, 0, tzinfo=UTC))
    assert client.post(url, data={"action": "give"}).status_code == 302  # already given: no new row
    frozen_clock(dt.datetime(2026, 11, 2, 10, 0, tzinfo=UTC))
    assert client.post(url, data={"action": "withdraw"}).status_code == 302
    frozen_clock(dt.datetime(2026, 12, 3, 10, 0, tzinfo=UTC))
    assert client.post(url, data={"action": "give"}).status_code == 302

    rows = list(db.session.scalars(select(PhotoConsent).order_by(PhotoConsent.id)))
    assert [(r.given_at, r.withdrawn_at) for r in rows] == [
        (dt.datetime(2026, 9, 20, 10, 0), dt.datetime(2026, 11, 2, 10, 0)),
        (dt.datetime(2026, 12, 3, 10, 0), None),
    ]
    changes = list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == Action.PHOTO_CONSENT)))
    assert [e.detail["change"] for e in changes] == ["give", "withdraw", "give"]
    assert client.post(url, data={"action": "other"}).status_code == 400

    # Another family cannot touch this child; an unknown service is not found either.
    login(stranger)
    assert client.post(url, data={"action": "withdraw"}).status_code == 404
    assert client.post(f"/mon-foyer/donnees/photos/{child.id}/nope", data={"action": "give"}).status_code == 404
    assert db.session.scalar(select(PhotoConsent).where(PhotoConsent.withdrawn_at.is_(None))) is not None

    # Staff of the service see it, with history; the read is logged. Other staff do not.
    login_as(staff("agent", "atelier"))
    listing = client.get("/guichet/photos/atelier")
    assert listing.status_code == 200
    assert f'data-child="{child.id}" data-consent="given"' in listing.get_data(as_text=True)
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == Action.READ_PHOTO_CONSENTS))
    login_as(staff("dpo"))
    assert client.get("/guichet/photos/atelier").status_code == 403
    login_as(None)
    assert client.get("/guichet/photos/atelier").status_code == 302


def test_photo_consent_is_never_a_condition_of_registration(app, make_household, book) -> None:
    home = make_household()
    outcome = book(home)
    assert outcome.registration_ids and db.session.scalar(select(PhotoConsent)) is None
