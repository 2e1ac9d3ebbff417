"""Exports: CSV and XLSX parsed back and checked against the registrations, sensitive answers only for
the roles allowed to read them, filters, the audit event of every export, and large exports in a
bounded number of queries."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator

import openpyxl
import pytest
from reports_helpers import CANTEEN, POOL, read_csv
from sqlalchemy import event, select

from inscriptions.extensions import db
from inscriptions.models import AuditEvent, Registration

ALLERGY = "Votre enfant a-t-il une allergie alimentaire ou un PAI (projet d'accueil individualisé) ?"
PAI = "Précisez l'allergie ou le PAI"
DIET = "Régime alimentaire"
DAYS = "Jours de cantine"
PICKUP = "Personnes à prévenir en cas d'urgence"


@pytest.fixture
def canteen(make_household, book):  # type: ignore[no-untyped-def]
    """Three canteen registrations: two Martin children (one with a PAI), one Bernard child cancelled."""
    martin = make_household(last_name="Martin", children=[("Léa", dt.date(2018, 3, 1)), ("Tom", dt.date(2016, 5, 2))])
    book(martin, "cantine", {**CANTEEN, "diet": "sans_porc", "allergy": "oui", "pai_details": "Arachides",
                             "pickup": [{"name": "=HYPERLINK(\"http://x\")", "phone": "0612345678"}]})
    bernard = make_household(last_name="Bernard", children=[("Zoé", dt.date(2017, 3, 1))])
    book(bernard, "cantine", {**CANTEEN, "days": ["thu"]}, channel="paper", status="cancelled")
    return martin, bernard


def _export_events() -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "export").order_by(AuditEvent.id)))


def test_csv_export_matches_the_registrations(client, staff, login_as, canteen) -> None:
    manager = login_as(staff("manager", "cantine"))
    response = client.get("/gestion/cantine/rapports/export.csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="cantine-toutes-seances-')
    assert response.headers["Cache-Control"] == "no-store"
    rows = read_csv(response.data)

    regs = list(db.session.scalars(select(Registration).where(Registration.service_code == "cantine")
                                   .order_by(Registration.id)))
    assert [r["Référence"] for r in rows] == [r.reference for r in regs]
    by_first = {r["Prénom"]: r for r in rows}
    assert set(by_first) == {"Léa", "Tom", "Zoé"}
    lea = by_first["Léa"]
    assert lea["Nom"] == "Martin"
    assert lea["Date de naissance"] == "01/03/2018"
    assert lea["École"] == "École Jules-Ferry"
    assert lea["Statut"] == "Acceptée"
    assert lea["Canal"] == "web"
    assert lea["Tarif"] == "2,40"  # French decimal comma
    assert lea[DIET] == "Sans porc"
    assert lea[DAYS] == "Lundi, Mardi"
    # The manager may read sensitive answers: the PAI columns are there.
    assert lea[ALLERGY] == "Oui"
    assert lea[PAI] == "Arachides"
    # A family's text starting with "=" is not run as a formula by the spreadsheet.
    assert lea[PICKUP].startswith("'=HYPERLINK")
    zoe = by_first["Zoé"]
    assert zoe["Statut"] == "Annulée"
    assert zoe["Canal"] == "paper"
    assert zoe[DAYS] == "Jeudi"
    assert zoe[PAI] == ""  # hidden by its condition: never stored, blank cell

    [event_] = _export_events()
    assert event_.actor_account_id == manager.id
    assert event_.household_id is None
    assert event_.detail == {"service": "cantine", "session": None, "statuses": [], "format": "csv",
                             "rows": 3, "sensitive": True, "households": sorted({r.household_id for r in regs})}


def test_sensitive_columns_are_left_out_for_roles_without_the_permission(client, staff, login_as, canteen) -> None:
    # The town's IT may export every service, but reads no health data.
    login_as(staff("admin"))
    rows = read_csv(client.get("/gestion/cantine/rapports/export.csv").data)
    assert len(rows) == 3
    assert ALLERGY not in rows[0]
    assert PAI not in rows[0]
    assert DIET in rows[0]
    assert all("Arachides" not in value for row in rows for value in row.values())
    assert _export_events()[-1].detail["sensitive"] is False

    book = openpyxl.load_workbook(io.BytesIO(client.get("/gestion/cantine/rapports/export.xlsx").data),
                                  read_only=True)
    headers = [c.value for c in next(book.active.iter_rows(max_row=1))]
    assert ALLERGY not in headers and PAI not in headers and DIET in headers


def test_status_filter(client, staff, login_as, canteen) -> None:
    login_as(staff("manager", "cantine"))
    rows = read_csv(client.get("/gestion/cantine/rapports/export.csv?status=accepted").data)
    assert sorted(r["Prénom"] for r in rows) == ["Léa", "Tom"]
    assert _export_events()[-1].detail["statuses"] == ["accepted"]
    assert client.get("/gestion/cantine/rapports/export.csv?status=nonsense").status_code == 400


def test_xlsx_export_matches_the_registrations(client, staff, login_as, canteen) -> None:
    login_as(staff("manager", "cantine"))
    response = client.get("/gestion/cantine/rapports/export.xlsx")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).active
    values = list(sheet.values)
    headers, rows = list(values[0]), values[1:]
    records = [dict(zip(headers, row, strict=True)) for row in rows]
    regs = list(db.session.scalars(select(Registration).where(Registration.service_code == "cantine")
                                   .order_by(Registration.id)))
    assert [r["Référence"] for r in records] == [r.reference for r in regs]
    lea = next(r for r in records if r["Prénom"] == "Léa")
    # Typed cells: a real date, a number, a local date-time.
    assert lea["Date de naissance"] == dt.datetime(2018, 3, 1)
    assert lea["Tarif"] == pytest.approx(2.40)
    assert lea[DIET] == "Sans porc"
    assert lea[PAI] == "Arachides"
    assert str(lea[PICKUP]).startswith("'=")
    # Columns ... Channel, Price, Unit, Created on: the creation in local time (08:00 UTC is 10:00 in Paris).
    assert lea[headers[headers.index("Canal") + 3]] == dt.datetime(2026, 9, 15, 10, 0)
    assert _export_events()[-1].detail["format"] == "xlsx"


def test_session_export_of_the_pool(client, staff, login_as, make_household, book) -> None:
    first = make_household(last_name="Petit", children=[("Inès", dt.date(2017, 4, 1))])
    book(first, "piscine", POOL, session="mer-14h")
    second = make_household(last_name="Roux", children=[("Noé", dt.date(2016, 4, 1))])
    book(second, "piscine", {**POOL, "specific_care": "oui"}, session="sam-10h")
    login_as(staff("manager", "piscine"))
    rows = read_csv(client.get("/gestion/piscine/rapports/export.csv?session=sam-10h").data)
    assert [r["Prénom"] for r in rows] == ["Noé"]
    assert rows[0]["Séance"] == "Samedi 10 h – 10 h 45"
    assert _export_events()[-1].detail["session"] == "sam-10h"
    assert client.get("/gestion/piscine/rapports/export.csv?session=nope").status_code == 404


@pytest.fixture
def statements(app) -> Iterator[list[str]]:  # type: ignore[no-untyped-def]
    """Every SQL statement run while the fixture is active."""
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_args):  # type: ignore[no-untyped-def]
        seen.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    yield seen
    event.remove(engine, "before_cursor_execute", count)


def test_large_export_streams_in_a_bounded_number_of_queries(client, staff, login_as, bulk, statements) -> None:
    bulk("cantine", 1500, lambda i: {"days": ["mon", "fri"], "diet": "standard" if i % 3 else "sans_viande",
                                     "allergy": False, "rules": True})
    login_as(staff("manager", "cantine"))
    statements.clear()
    response = client.get("/gestion/cantine/rapports/export.csv")
    rows = read_csv(response.data)
    assert len(rows) == 1500
    assert sum(1 for r in rows if r[DIET] == "Sans viande") == 500
    # Batches of 500 with their households and children loaded per batch, never one query per row.
    assert len(statements) < 40, len(statements)
    assert _export_events()[-1].detail["rows"] == 1500


def test_anonymised_registrations_export_without_names(client, staff, login_as, make_household, book) -> None:
    from inscriptions.privacy.anonymise import anonymise

    household = make_household(last_name="Martin", children=[("Léa", dt.date(2018, 3, 1))])
    regs = book(household, "piscine", POOL, session="mer-14h", status="accepted")
    anonymise(regs)
    db.session.commit()
    login_as(staff("manager", "piscine"))
    [row] = read_csv(client.get("/gestion/piscine/rapports/export.csv").data)
    assert row["Référence"] == regs[0].reference
    assert row["Prénom"] == row["Nom"] == row["Foyer"] == ""
    assert "Martin" not in ";".join(row.values())
    response = client.get("/gestion/piscine/rapports/seances/mer-14h/presence.pdf")
    assert response.status_code == 200
