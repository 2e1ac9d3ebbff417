"""The DPO's audit log as a person reads it, and the page each role lands on after log-in.

The DPO lands on the audit log (not a 403); the other roles land where they did. The journal
shows French labels, the town's time, details in words (no JSON), French reasons; its filters
(period, kind, household, staff member) work, and a bad filter gives a message, never a 500.
"""

from __future__ import annotations

import datetime as dt
import re
from html import unescape

import pytest
from flask import g
from privacy_helpers import PASSWORD

from inscriptions.audit import ACTION_LABELS, Action, log_access
from inscriptions.backoffice.views import REVIEW_REASON
from inscriptions.extensions import db
from inscriptions.privacy.journal import SYSTEM_REASONS

UTC = dt.UTC


def _post_login(client, email: str) -> str:
    g.pop("_login_user", None)
    with client.session_transaction() as session:
        session.clear()
    response = client.post("/connexion", data={"email": email, "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return response.headers["Location"]


@pytest.mark.parametrize(("role", "service", "landing"), [
    ("dpo", None, "/dpo/journal"),
    ("agent", "atelier", "/guichet/"),
    ("manager", "atelier", "/guichet/"),
    ("admin", None, "/guichet/"),
])
def test_each_staff_role_lands_on_a_page_it_may_open(client, staff, role, service, landing) -> None:
    account = staff(role, service)
    account.set_password(PASSWORD)
    db.session.commit()
    location = _post_login(client, account.email)
    assert location == landing
    g.pop("_login_user", None)
    assert client.get(location).status_code == 200


def test_a_parent_still_lands_on_the_household(client, make_household) -> None:
    home = make_household()
    email = home.guardians[0].email
    location = _post_login(client, email)
    assert location == "/mon-foyer/"
    g.pop("_login_user", None)
    assert client.get(location).status_code == 200


def test_the_dpo_already_logged_in_is_sent_to_the_journal(client, staff, login_as) -> None:
    login_as(staff("dpo"))
    for path in ("/connexion", "/compte/creer"):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"] == "/dpo/journal", path


def test_a_next_page_is_still_followed(client, staff) -> None:
    account = staff("dpo")
    account.set_password(PASSWORD)
    db.session.commit()
    g.pop("_login_user", None)
    response = client.post("/connexion?next=/gestion/", data={"email": account.email, "password": PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/gestion/"


# -- the journal in words ---------------------------------------------------------------------------

def _row(page: str, event_id: int) -> str:
    found = re.search(rf'<tr data-event="{event_id}".*?</tr>', page, re.S)
    assert found is not None, f"event {event_id} not on the page"
    return unescape(found.group(0))


def _events(page: str) -> set[int]:
    return {int(n) for n in re.findall(r'data-event="(\d+)"', page)}


@pytest.fixture
def events(make_household, staff, frozen_clock):
    """A few events of October 2026 (summer time in Paris: UTC+2), by an agent of the test service."""
    home = make_household()
    agent = staff("agent", "atelier")
    made = {}
    frozen_clock(dt.datetime(2026, 10, 1, 6, 30, tzinfo=UTC))  # 08:30 in Paris
    made["read"] = log_access(agent, Action.READ_REGISTRATION, home.id,
                              {"reference": "ATL-0001", "service": "atelier", "sensitive_shown": False,
                               "from": "backoffice"}, REVIEW_REASON)
    frozen_clock(dt.datetime(2026, 9, 30, 22, 30, tzinfo=UTC))  # 1 October, 00:30 in Paris
    made["status"] = log_access(agent, "change_status", home.id,
                                {"reference": "ATL-0001", "service": "atelier", "from": "submitted",
                                 "to": "accepted", "automatic": False}, "Dossier complet")
    frozen_clock(dt.datetime(2026, 9, 30, 21, 30, tzinfo=UTC))  # 30 September, 23:30 in Paris
    made["search"] = log_access(agent, Action.SEARCH, None, {"query": "Martin", "results": 1})
    frozen_clock(dt.datetime(2026, 10, 2, 8, 0, tzinfo=UTC))
    made["purge"] = log_access(None, Action.PURGE, None, {"registrations_anonymised": 3, "uploads_deleted": 0})
    db.session.commit()
    made["household"] = home
    made["agent"] = agent
    return made


def test_the_journal_speaks_french_in_the_towns_time(client, staff, login_as, events) -> None:
    login_as(staff("dpo"))
    response = client.get("/dpo/journal")
    assert response.status_code == 200
    page = response.get_data(as_text=True)

    read = _row(page, events["read"].id)
    assert "01/10/2026 08:30" in read  # 06:30 UTC
    assert "Consultation d'une inscription" in read
    assert "Atelier test" in read and "ATL-0001" in read  # the service's name, not its code
    assert "Réponses sensibles affichées" in read and "Non" in read
    assert "Ouverte depuis" in read and "Gestion" in read
    assert "Gestion : examen des inscriptions du service" in read  # the reason, in French
    cells = read.split(">", 1)[1]  # past the row's data-* attributes (codes stay there)
    assert "{" not in cells and "}" not in cells and '"' not in re.sub(r"<[^>]*>", "", cells)
    assert "read_registration" not in cells and "sensitive_shown" not in cells
    assert "back office: review" not in cells

    status = _row(page, events["status"].id)
    assert "01/10/2026 00:30" in status
    assert "Changement du statut d'une inscription" in status
    assert "Ancien statut" in status and "Nouveau statut" in status and "Accepted" not in status
    assert "Dossier complet" in status  # a reason typed by staff, as typed

    purge = _row(page, events["purge"].id)
    assert "L'application (tâche automatique)" in purge and "Inscriptions anonymisées" in purge
    assert "(UTC)" not in page and "Quand" in page
    assert "css/journal.css" in page


def test_every_kind_of_event_has_a_french_label(app, client, staff, login_as) -> None:
    assert set(ACTION_LABELS) == set(Action)
    assert REVIEW_REASON in SYSTEM_REASONS
    login_as(staff("dpo"))
    page = unescape(client.get("/dpo/journal").get_data(as_text=True))
    options = re.findall(r'<option value="([a-z_]+)"[^>]*>([^<]+)</option>', page)
    assert {code for code, _label in options} >= {a.value for a in Action}
    assert all(code != label for code, label in options)


def test_filter_by_kind_and_by_period(client, staff, login_as, events) -> None:
    login_as(staff("dpo"))
    by_kind = client.get("/dpo/journal?action=change_status").get_data(as_text=True)
    assert _events(by_kind) == {events["status"].id}
    assert 'value="change_status" selected' in by_kind

    # A day of the town: 1 October in Paris is 30 Sep 22:00 UTC to 1 Oct 22:00 UTC.
    day = client.get("/dpo/journal?since=2026-10-01&until=2026-10-01").get_data(as_text=True)
    assert _events(day) == {events["read"].id, events["status"].id}
    typed = client.get("/dpo/journal?since=01/10/2026&until=01/10/2026").get_data(as_text=True)
    assert _events(typed) == _events(day)
    before = client.get("/dpo/journal?until=2026-09-30").get_data(as_text=True)
    assert _events(before) == {events["search"].id}

    agent, home = events["agent"], events["household"]
    by_staff = client.get(f"/dpo/journal?actor={agent.email}&household={home.id}").get_data(as_text=True)
    assert _events(by_staff) == {events["read"].id, events["status"].id}
    by_number = client.get(f"/dpo/journal?actor={agent.id}&action=search").get_data(as_text=True)
    assert _events(by_number) == {events["search"].id}


@pytest.mark.parametrize(("query", "field", "message"), [
    ("since=2026-13-45", "since", "n'est pas une date"),
    ("until=31/02/2026", "until", "n'est pas une date"),
    ("since=%F0%9F%99%82", "since", "n'est pas une date"),
    ("since=99999-01-01", "since", "n'est pas une date"),
    ("since=0001-01-01", "since", "n'est pas une date"),
    ("since=2026-10-02&until=2026-10-01", "until", "La date de fin est avant la date de début."),
    ("household=abc", "household", "en chiffres seulement"),
    ("action=not_a_kind", "action", "Choisissez un type d'événement dans la liste."),
])
def test_a_bad_filter_gives_a_message(client, staff, login_as, events, query, field, message) -> None:
    login_as(staff("dpo"))
    response = client.get(f"/dpo/journal?{query}")
    assert response.status_code == 200
    page = unescape(response.get_data(as_text=True))
    assert message in page and 'class="error-summary"' in page
    assert f'id="{field}-error"' in page and "Erreur" in page
    # The filter in error is not applied: every event is listed.
    assert _events(page) >= {events["read"].id, events["status"].id, events["search"].id}
    # The export asked with the same filter exports nothing: back to the page and its message.
    export = client.get(f"/dpo/journal.csv?{query}")
    assert export.status_code == 302 and export.headers["Location"].startswith("/dpo/journal?")
    assert message in unescape(client.get(export.headers["Location"]).get_data(as_text=True))


def test_the_csv_keeps_the_codes_and_adds_french_labels(client, staff, login_as, events) -> None:
    login_as(staff("dpo"))
    export = client.get("/dpo/journal.csv?action=read_registration")
    assert export.status_code == 200 and export.mimetype == "text/csv"
    lines = export.get_data(as_text=True).lstrip("\ufeff").strip().splitlines()
    header = lines[0].split(";")
    assert header[:9] == ["id", "at_utc", "actor_account_id", "actor_email", "action", "household_id",
                          "registration_id", "detail", "reason"]
    assert header[9:] == ["action_label", "at_local", "role", "channel", "role_label", "channel_label"]
    assert len(lines) == 2
    row = lines[1]
    assert ";read_registration;" in row and "2026-10-01 06:30:00" in row  # codes and UTC kept
    assert '"sensitive_shown"' in row  # the detail stays JSON (machine-readable)
    # Logged inside the tests' request context: the web channel.
    assert row.endswith(";Consultation d'une inscription;01/10/2026 08:30;agent:atelier;web;"
                        "Agent (Atelier test);Site web")
