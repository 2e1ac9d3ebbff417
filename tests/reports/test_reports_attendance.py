"""The printable attendance list: text extracted from the PDF has the accepted children of the session,
sorted by name, with age and class; nobody else; long lists run over pages; every print is audited."""

from __future__ import annotations

import datetime as dt
import re

import pypdfium2 as pdfium
from reports_helpers import POOL
from sqlalchemy import select

from inscriptions.audit import events_of_household
from inscriptions.extensions import db
from inscriptions.models import AuditEvent


def pdf_pages(data: bytes) -> list[str]:
    document = pdfium.PdfDocument(data)
    return [page.get_textpage().get_text_range() for page in document]


def test_attendance_list_of_a_pool_group(client, staff, login_as, make_household, book) -> None:
    def child(last: str, first: str, born: dt.date, status: str, session: str = "mer-14h", class_name: str = "CE1"):
        household = make_household(last_name=last, children=[(first, born)])
        household.children[0].class_name = class_name
        db.session.commit()
        book(household, "piscine", POOL, session=session, status=status)

    child("Zidane", "Adam", dt.date(2018, 2, 10), "accepted", class_name="CP")
    child("Bernard", "Zoé", dt.date(2017, 3, 1), "accepted", class_name="CE1")
    child("bernard", "Albane", dt.date(2016, 12, 1), "accepted", class_name="CE2")  # case does not change the order
    child("Martin", "Pending", dt.date(2017, 1, 1), "submitted")
    child("Martin", "Waiting", dt.date(2017, 1, 1), "waitlisted")
    child("Martin", "Cancelled", dt.date(2017, 1, 1), "cancelled")
    child("Martin", "OtherGroup", dt.date(2017, 1, 1), "accepted", session="sam-10h")

    agent = login_as(staff("agent", "piscine"))  # the lifeguard's desk prints it
    response = client.get("/gestion/piscine/rapports/seances/mer-14h/presence.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Cache-Control"] == "no-store"
    [text] = pdf_pages(response.data)
    lines = [line.strip() for line in text.splitlines()]
    names = [line for line in lines if line[:1].isdigit() and ("BERNARD" in line or "ZIDANE" in line)]
    # Sorted by last name then first name; age on the first lesson (6 January 2027), class.
    assert names == ["1 BERNARD Albane 10 CE2", "2 BERNARD Zoé 9 CE1", "3 ZIDANE Adam 8 CP"]
    for absent in ("Pending", "Waiting", "Cancelled", "OtherGroup"):
        assert absent not in text
    assert "Villebelle" in text  # the town's letterhead
    assert "Mercredi 14 h – 14 h 45 (débutants)" in text

    [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "export"))
    assert event.actor_account_id == agent.id
    detail = dict(event.detail)
    listed = detail.pop("households")
    assert detail == {"service": "piscine", "session": "mer-14h", "format": "attendance_pdf", "rows": 3}
    # The three households on the list, each with the print in its own history.
    assert len(listed) == 3
    assert all(event in events_of_household(h) for h in listed)


def test_long_lists_run_over_several_pages(client, staff, login_as, bulk) -> None:
    bulk("piscine", 45, lambda i: {"level": "debutant", "rules": True}, session="mer-15h")
    login_as(staff("manager", "piscine"))
    pages = pdf_pages(client.get("/gestion/piscine/rapports/seances/mer-15h/presence.pdf?columns=12").data)
    assert len(pages) == 3
    text = "\n".join(pages)
    assert all(f"Enfant{i:05d}" in text for i in range(45))
    assert text.index("Enfant00000") < text.index("Enfant00044")


def test_unknown_session_is_not_found(client, staff, login_as) -> None:
    login_as(staff("manager", "piscine"))
    assert client.get("/gestion/piscine/rapports/seances/nope/presence.pdf").status_code == 404
    # A session of another service is not one of this service's.
    assert client.get("/gestion/piscine/rapports/seances/2026-12-12/presence.pdf").status_code == 404


def test_household_bookings_list_the_household_and_its_places(client, staff, login_as, make_household, book) -> None:
    screening = "2026-12-12"
    for last, children, adults in (("Zola", 2, 1), ("Éluard", 1, 1), ("Blanc", 3, 2)):
        household = make_household(last_name=last)
        book(household, "cinema", {"child_seats": children, "adult_seats": adults, "snack_allergy": "non"},
             session=screening, whole_household=True)
    login_as(staff("agent", "cinema"))
    [text] = pdf_pages(client.get(f"/gestion/cinema/rapports/seances/{screening}/presence.pdf").data)
    rows = [line.strip() for line in text.splitlines() if re.fullmatch(r"\d+ \w+ \d+", line.strip())]
    # Accents do not change the order (Éluard between Blanc and Zola); the places of each booking.
    assert rows == ["1 BLANC 5", "2 ÉLUARD 2", "3 ZOLA 3"]

    # Seats per screening: a count of places, not of bookings.
    html = client.get("/gestion/cinema/rapports/comptages?group=session&measure=places").get_data(as_text=True)
    assert 'data-total="10"' in html
