"""The review queue: filters (status, session, school, answer, dates), pages and bulk actions."""

from __future__ import annotations

import datetime as dt

from backoffice_helpers import fresh, queue_references

from inscriptions.backoffice import views
from inscriptions.extensions import db
from inscriptions.models import AuditEvent, Child, Registration, Status


def _refs(*ids: int) -> list[str]:
    return [db.session.get(Registration, i).reference for i in ids]


def test_filters(client, make_household, book, staff, login_as, frozen_clock) -> None:  # type: ignore[no-untyped-def]
    a = book(make_household(), "s1", level="debutant").registration_ids[0]
    b = book(make_household(), "s2", level="confirme").registration_ids[0]
    frozen_clock(dt.datetime(2026, 9, 20, 8, 0, tzinfo=dt.UTC))
    c = book(make_household(), "s2", level="debutant").registration_ids[0]
    # Another school for c's child (the town's list of schools is the filter's choices).
    child = db.session.get(Registration, c).child
    from flask import current_app

    schools = current_app.extensions["inscriptions.town"].schools
    other_school = next(s for s in schools if s != child.school)
    db.session.get(Child, child.id).school = other_school
    db.session.commit()
    login_as(staff("agent", "revue"))

    def listed(**args: str) -> list[str]:
        response = client.get("/gestion/revue/", query_string=args)
        assert response.status_code == 200
        return queue_references(response.get_data(as_text=True))

    assert listed() == _refs(a, b, c)
    assert listed(session="s2") == _refs(b, c)
    assert listed(a_level="debutant") == _refs(a, c)
    assert listed(session="s2", a_level="debutant") == _refs(c)
    assert listed(school=other_school) == _refs(c)
    assert listed(**{"from": "2026-09-16"}) == _refs(c)
    assert listed(to="2026-09-15") == _refs(a, b)
    assert listed(status="accepted") == []
    assert listed(status="submitted") == _refs(a, b, c)
    # Unknown values are ignored rather than failing; a bad date is reported.
    assert listed(session="nope", a_level="nope", status="nope") == _refs(a, b, c)
    page = client.get("/gestion/revue/", query_string={"from": "demain"}).get_data(as_text=True)
    assert 'class="error-summary"' in page and 'aria-invalid="true"' in page


def test_a_yes_no_answer_named_in_queue_filters(client, make_household, book, staff, login_as) -> None:  # type: ignore[no-untyped-def]
    a = book(make_household(), "s2", first_time=True).registration_ids[0]
    b = book(make_household(), "s2", first_time=False).registration_ids[0]
    book(make_household(), "s2")
    login_as(staff("agent", "revue"))
    page = client.get("/gestion/revue/", query_string={"a_first_time": "yes"}).get_data(as_text=True)
    assert queue_references(page) == _refs(a)
    page = client.get("/gestion/revue/", query_string={"a_first_time": "no"}).get_data(as_text=True)
    assert queue_references(page) == _refs(b)


def test_without_queue_filters_every_plain_single_choice_is_offered(
    client, make_household, book, staff, login_as
) -> None:  # type: ignore[no-untyped-def]
    book(make_household(), service="autre")
    login_as(staff("agent", "autre"))
    page = client.get("/gestion/autre/").get_data(as_text=True)
    assert 'name="a_level"' in page
    assert 'name="a_first_time"' not in page and 'name="a_health"' not in page


def test_sensitive_fields_are_never_filters(client, make_household, book, staff, login_as) -> None:  # type: ignore[no-untyped-def]
    book(make_household(), health="Asthme")
    login_as(staff("manager", "revue"))
    page = client.get("/gestion/revue/").get_data(as_text=True)
    assert 'name="a_level"' in page
    assert 'name="a_health"' not in page
    assert "Asthme" not in page


def test_pages(client, make_household, book, staff, login_as, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    ids = [book(make_household(), "s2").registration_ids[0] for _ in range(3)]
    login_as(staff("agent", "revue"))
    first = client.get("/gestion/revue/", query_string={"session": "s2"}).get_data(as_text=True)
    assert queue_references(first) == _refs(*ids[:2])
    assert 'rel="next"' in first and "session=s2" in first
    second = client.get("/gestion/revue/", query_string={"session": "s2", "page": 2}).get_data(as_text=True)
    assert queue_references(second) == _refs(ids[2])
    assert 'rel="prev"' in second and 'rel="next"' not in second


def test_the_table_is_accessible(client, make_household, book, staff, login_as) -> None:  # type: ignore[no-untyped-def]
    book(make_household())
    login_as(staff("agent", "revue"))
    page = client.get("/gestion/revue/").get_data(as_text=True)
    assert "<caption>" in page and '<th scope="col">' in page and '<th scope="row">' in page
    assert page.count("<h1>") == 1
    for select_id in ("filter-status", "filter-session", "filter-a_level", "filter-from", "filter-to", "bulk-to"):
        assert f'<label for="{select_id}">' in page, select_id
    assert '<label for="bulk-reason">' in page
    assert 'for="select-' in page


def test_bulk_accept_reports_each_registration(
    client, make_household, book, staff, login_as, outbox
) -> None:  # type: ignore[no-untyped-def]
    a = book(make_household(), "s1").registration_ids[0]
    b = book(make_household(), "s1").registration_ids[0]
    waiting = book(make_household(), "s1").registration_ids[0]  # s1 is full: this one waits
    other = book(make_household(), service="autre").registration_ids[0]
    outbox.clear()
    agent = login_as(staff("agent", "revue"))
    response = client.post("/gestion/revue/actions", data={
        "registration": [str(a), str(b), str(waiting), str(other)], "to": "accepted", "reason": "",
    })
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'data-done="2"' in page and 'data-failed="2"' in page
    assert f'data-registration="{a}" data-ok="yes"' in page
    assert f'data-registration="{waiting}" data-ok="no"' in page
    assert f'data-registration="{other}" data-ok="no"' in page
    assert [fresh(i).status for i in (a, b, waiting)] == [Status.ACCEPTED, Status.ACCEPTED, Status.WAITLISTED]
    # Another service's registration is untouched and not revealed.
    assert fresh(other).status == Status.SUBMITTED
    assert fresh(other).reference not in page
    events = db.session.scalars(db.select(AuditEvent).filter_by(action="change_status")).all()
    assert sorted(e.registration_id for e in events) == sorted([a, b])
    assert all(e.actor_account_id == agent.id for e in events)
    assert len(outbox) == 2


def test_bulk_reject_needs_a_reason(client, make_household, book, staff, login_as) -> None:  # type: ignore[no-untyped-def]
    a = book(make_household()).registration_ids[0]
    login_as(staff("agent", "revue"))
    response = client.post("/gestion/revue/actions", data={"registration": [str(a)], "to": "rejected", "reason": ""})
    assert response.status_code == 302
    assert fresh(a).status == Status.SUBMITTED
    response = client.post("/gestion/revue/actions", data={"registration": [str(a)], "to": "rejected",
                                                           "reason": "Dossier incomplet"})
    assert response.status_code == 200
    assert fresh(a).status == Status.REJECTED
    assert fresh(a).history[-1].reason == "Dossier incomplet"


def test_bulk_respects_the_roles(client, make_household, book, staff, login_as) -> None:  # type: ignore[no-untyped-def]
    a = book(make_household()).registration_ids[0]
    login_as(staff("agent", "revue"))
    client.post(f"/gestion/revue/inscriptions/{_refs(a)[0]}/statut", data={"to": "pending_documents"})
    assert fresh(a).status == "pending_documents"
    response = client.post("/gestion/revue/actions", data={"registration": [str(a)], "to": "accepted"})
    assert 'data-failed="1"' in response.get_data(as_text=True)
    assert fresh(a).status == "pending_documents"


def _cancel(registration_id: int) -> None:
    db.session.get(Registration, registration_id).status = Status.CANCELLED
    db.session.commit()


def test_cancelled_registrations_are_hidden_unless_asked_for(
    client, make_household, book, staff, login_as
) -> None:  # type: ignore[no-untyped-def]
    a = book(make_household(), "s2").registration_ids[0]
    b = book(make_household(), "s2").registration_ids[0]
    c = book(make_household(), "s2").registration_ids[0]
    d = book(make_household(), "s1").registration_ids[0]
    for cancelled in (b, d):
        _cancel(cancelled)
    login_as(staff("agent", "revue"))

    page = client.get("/gestion/revue/").get_data(as_text=True)
    assert queue_references(page) == _refs(a, c)
    # The count says how many are hidden, with a link (no JavaScript) and an unticked box to show them.
    assert 'id="hidden-cancelled" data-hidden="2"' in page
    assert "2 inscriptions annulées ne sont pas affichées." in page
    assert 'href="/gestion/revue/?show_cancelled=1"' in page
    assert '<label for="filter-show_cancelled">Afficher les annulées</label>' in page
    assert 'name="show_cancelled" value="1">' in page

    page = client.get("/gestion/revue/", query_string={"show_cancelled": "1"}).get_data(as_text=True)
    assert queue_references(page) == _refs(a, b, c, d)
    assert 'id="hidden-cancelled"' not in page
    assert 'name="show_cancelled" value="1" checked>' in page

    # The count follows the other filters, and the link keeps them.
    page = client.get("/gestion/revue/", query_string={"session": "s1"}).get_data(as_text=True)
    assert queue_references(page) == []
    assert 'data-hidden="1"' in page and "1 inscription annulée n'est pas affichée." in page
    assert "session=s1" in page.split('id="hidden-cancelled"')[1].split("</p>")[0]
    # Choosing the "cancelled" status shows them, nothing is said hidden.
    page = client.get("/gestion/revue/", query_string={"status": "cancelled"}).get_data(as_text=True)
    assert queue_references(page) == _refs(b, d)
    assert 'id="hidden-cancelled"' not in page
    # The next page's link keeps the choice.
    assert views.QueueFilters(show_cancelled=True).args() == {"show_cancelled": "1"}


def test_two_households_of_the_same_name_are_told_apart(
    client, make_household, book, staff, login_as
) -> None:  # type: ignore[no-untyped-def]
    first = make_household(last_name="Martin")
    second = make_household(last_name="Martin", resident=False)
    second.guardians[0].first_name = "Karim"
    db.session.commit()
    a = book(first).registration_ids[0]
    b = book(second).registration_ids[0]
    login_as(staff("manager", "revue"))
    page = client.get("/gestion/revue/").get_data(as_text=True)
    assert queue_references(page) == _refs(a, b)
    rows = {ref: page.split(f'<tr data-reference="{ref}"')[1].split("</tr>")[0] for ref in _refs(a, b)}
    details = [
        row.split('class="queue-table__detail" data-household=')[1].split("</span>")[0] for row in rows.values()
    ]
    assert details[0] == f'"{first.id}">n° {first.id} – Camille – Villebelle'
    assert details[1] == f'"{second.id}">n° {second.id} – Karim – Paris'
    # Nothing sensitive or private: no address, e-mail or quotient familial.
    for row in rows.values():
        assert "rue des Écoles" not in row and "@example.fr" not in row and "600" not in row


def test_the_received_cell_says_the_channel(client, make_household, book, staff, login_as) -> None:  # type: ignore[no-untyped-def]
    book(make_household())
    login_as(staff("agent", "revue"))
    page = client.get("/gestion/revue/").get_data(as_text=True)
    assert "<th scope=\"col\">Reçue le (canal)</th>" in page
    assert "15/09/2026 10:00" in page  # 08:00 UTC, Paris time
    assert '<span class="queue-table__detail">Internet</span>' in page
