"""Reviewing registrations one by one: moves through the engine, capacity, reasons, roles,
history, audit and the family told (e-mail, or a letter to print)."""

from __future__ import annotations

import pytest

from inscriptions.extensions import db
from inscriptions.models import AuditEvent, Registration, Status, StatusChange
from inscriptions.registrations.create import RegistrationRefused


def _ref(reg_id: int) -> str:
    return db.session.get(Registration, reg_id).reference


def _post(client, reg_id: int, to: str, reason: str = ""):  # type: ignore[no-untyped-def]
    return client.post(f"/gestion/revue/inscriptions/{_ref(reg_id)}/statut", data={"to": to, "reason": reason})


def test_accepting_writes_history_audit_and_mails_the_family(
    client, make_household, book, staff, login_as, outbox
) -> None:  # type: ignore[no-untyped-def]
    from backoffice_helpers import fresh

    home = make_household()
    reg_id = book(home).registration_ids[0]
    outbox.clear()
    agent = login_as(staff("agent", "revue"))
    response = _post(client, reg_id, "accepted", "Dossier complet")
    assert response.status_code == 303
    reg = fresh(reg_id)
    assert reg.status == Status.ACCEPTED
    change = reg.history[-1]
    assert (change.from_status, change.to_status, change.by_id, change.reason) == (
        "submitted", "accepted", agent.id, "Dossier complet")
    event = db.session.scalar(db.select(AuditEvent).filter_by(action="change_status", registration_id=reg_id))
    assert event is not None and event.actor_account_id == agent.id and event.household_id == home.id
    assert event.detail["from"] == "submitted" and event.detail["to"] == "accepted"
    assert event.reason == "Dossier complet"
    assert len(outbox) == 1
    assert outbox[0].to == [home.guardians[0].email.lower()]
    assert reg.reference in outbox[0].subject


def test_reject_needs_a_reason_and_frees_the_place_for_the_waiting_list(
    client, make_household, book, staff, login_as, outbox
) -> None:  # type: ignore[no-untyped-def]
    from backoffice_helpers import fresh

    first = book(make_household()).registration_ids[0]
    book(make_household())  # s1 (2 places) is now full
    waiting = book(make_household()).registration_ids[0]
    assert fresh(waiting).status == Status.WAITLISTED
    login_as(staff("agent", "revue"))

    assert _post(client, first, "rejected", "   ").status_code == 303
    assert fresh(first).status == Status.SUBMITTED
    assert db.session.scalar(db.select(AuditEvent).filter_by(action="change_status")) is None

    outbox.clear()
    assert _post(client, first, "rejected", "Hors secteur").status_code == 303
    assert fresh(first).status == Status.REJECTED
    assert fresh(first).history[-1].reason == "Hors secteur"
    # The engine promoted the waiting list in the same transaction (an offer, by default).
    assert fresh(waiting).status == Status.OFFERED
    # Both families are told: the rejection and the offer.
    assert len(outbox) == 2


def test_accepting_beyond_capacity_is_refused(client, make_household, book, staff, login_as) -> None:  # type: ignore[no-untyped-def]
    from backoffice_helpers import fresh

    book(make_household())
    book(make_household())
    waiting = book(make_household()).registration_ids[0]
    login_as(staff("agent", "revue"))
    response = _post(client, waiting, "accepted")
    assert response.status_code == 303
    assert fresh(waiting).status == Status.WAITLISTED
    assert len(fresh(waiting).history) == 1
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'class="flash flash--error"' in page


def test_roles_follow_the_workflow_of_the_service(client, make_household, book, staff, login_as) -> None:  # type: ignore[no-untyped-def]
    from backoffice_helpers import fresh

    reg_id = book(make_household()).registration_ids[0]
    login_as(staff("agent", "revue"))
    assert _post(client, reg_id, "pending_documents").status_code == 303
    assert fresh(reg_id).status == "pending_documents"
    # Only managers may decide on a registration waiting for documents.
    page = client.get(f"/gestion/revue/inscriptions/{_ref(reg_id)}").get_data(as_text=True)
    assert 'id="decision-form"' not in page
    _post(client, reg_id, "accepted")
    assert fresh(reg_id).status == "pending_documents"
    login_as(staff("manager", "revue"))
    page = client.get(f"/gestion/revue/inscriptions/{_ref(reg_id)}").get_data(as_text=True)
    assert 'id="to-accepted"' in page and 'id="to-cancelled"' not in page
    _post(client, reg_id, "accepted")
    assert fresh(reg_id).status == Status.ACCEPTED
    # A move the workflow lists for no role is refused to everyone, admin included.
    login_as(staff("admin"))
    _post(client, reg_id, "waitlisted")
    assert fresh(reg_id).status == Status.ACCEPTED


def test_without_a_workflow_section_staff_make_the_engine_moves(
    client, make_household, book, staff, login_as, frozen_clock
) -> None:  # type: ignore[no-untyped-def]
    import datetime as dt

    from backoffice_helpers import fresh

    reg_id = book(make_household(), service="autre").registration_ids[0]
    book(make_household(), service="autre")
    waiting = book(make_household(), service="autre").registration_ids[0]
    login_as(staff("agent", "autre"))
    page = client.get(f"/gestion/autre/inscriptions/{_ref(reg_id)}").get_data(as_text=True)
    for status in ("accepted", "waitlisted", "rejected", "cancelled"):
        assert f'id="to-{status}"' in page
    assert 'id="to-offered"' not in page
    frozen_clock(dt.datetime(2026, 9, 15, 9, 0, tzinfo=dt.UTC))
    client.post(f"/gestion/autre/inscriptions/{_ref(reg_id)}/statut", data={"to": "waitlisted"})
    # It joins the end of the list; its place goes to the family that was waiting first.
    assert fresh(reg_id).status == Status.WAITLISTED
    assert fresh(waiting).status == Status.OFFERED


def test_an_extra_status_holding_a_place_counts_against_the_capacity(
    client, make_household, book, staff, login_as
) -> None:  # type: ignore[no-untyped-def]
    from backoffice_helpers import fresh

    home = make_household()
    first = book(home).registration_ids[0]
    book(make_household())
    login_as(staff("agent", "revue"))
    _post(client, first, "pending_documents")
    assert fresh(first).status == "pending_documents"
    # The place is still held: a newcomer waits.
    late = book(make_household()).registration_ids[0]
    assert fresh(late).status == Status.WAITLISTED
    # A pending registration is still active: the same child cannot be booked again for the session.
    with pytest.raises(RegistrationRefused):
        book(home, "s1")
    # A move the workflow does not list is refused.
    assert _post(client, first, "waitlisted").status_code == 303
    assert fresh(first).status == "pending_documents"


def test_sensitive_answers_are_shown_only_to_those_allowed(
    client, make_household, book, staff, login_as
) -> None:  # type: ignore[no-untyped-def]
    reg_id = book(make_household(), health="Allergie aux arachides").registration_ids[0]
    url = f"/gestion/revue/inscriptions/{_ref(reg_id)}"
    login_as(staff("agent", "revue"))
    page = client.get(url).get_data(as_text=True)
    assert "Allergie aux arachides" not in page and 'id="sensitive-hidden"' in page
    login_as(staff("manager", "revue"))
    page = client.get(url).get_data(as_text=True)
    assert "Allergie aux arachides" in page and 'id="sensitive-hidden"' not in page
    event = db.session.scalars(db.select(AuditEvent).filter_by(action="read_registration")
                               .order_by(AuditEvent.id.desc())).first()
    assert event.detail["sensitive_shown"] is True


def test_households_without_e_mail_get_a_letter_to_print(
    client, make_household, book, staff, login_as, outbox
) -> None:  # type: ignore[no-untyped-def]
    home = make_household(email=None, with_account=False, last_name="Petit")
    reg_id = book(home).registration_ids[0]
    outbox.clear()
    login_as(staff("agent", "revue"))
    url = f"/gestion/revue/inscriptions/{_ref(reg_id)}"
    assert 'data-mode="letter"' in client.get(url).get_data(as_text=True)
    _post(client, reg_id, "accepted")
    assert outbox == []
    page = client.get("/gestion/revue/courriers").get_data(as_text=True)
    assert f'data-reference="{_ref(reg_id)}"' in page
    assert f'data-household="{home.id}"' in page
    pdf = client.get(f"{url}/courrier.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")
    pdf = client.get("/gestion/revue/courriers.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    printed = db.session.scalars(db.select(AuditEvent).filter_by(action="print_letter")).all()
    assert {e.household_id for e in printed} == {home.id}


def test_the_history_names_who_moved_it(client, make_household, book, staff, login_as) -> None:  # type: ignore[no-untyped-def]
    reg_id = book(make_household()).registration_ids[0]
    agent = login_as(staff("agent", "revue"))
    _post(client, reg_id, "accepted", "Vu au guichet")
    page = client.get(f"/gestion/revue/inscriptions/{_ref(reg_id)}").get_data(as_text=True)
    assert agent.email in page and "Vu au guichet" in page
    changes = db.session.scalars(db.select(StatusChange).filter_by(registration_id=reg_id)).all()
    assert [c.to_status for c in changes] == ["submitted", "accepted"]


def test_a_family_may_cancel_a_registration_in_an_extra_status(
    client, make_household, book, staff, login_as
) -> None:  # type: ignore[no-untyped-def]
    from backoffice_helpers import fresh

    from inscriptions.registrations.cancel import can_cancel, cancel_registration

    reg_id = book(make_household()).registration_ids[0]
    login_as(staff("agent", "revue"))
    _post(client, reg_id, "pending_documents")
    assert can_cancel(fresh(reg_id))
    cancel_registration(reg_id, by_id=None, reason="")
    assert fresh(reg_id).status == Status.CANCELLED
