"""The family's cancel button follows the rule cancelling applies (registrations.cancel), extra
workflow statuses of a service included: one function decides, for the page and the cancellation.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from flask import g
from flask.testing import FlaskClient
from service_helpers import small_service, write_services

from inscriptions.extensions import db
from inscriptions.models import Household, Registration, Status
from inscriptions.registrations.cancel import CancellationRefused, cancel_registration, cancellation_refusal
from inscriptions.registrations.create import ParticipantInput, RegistrationInput, create_registrations
from inscriptions.registrations.status import transition
from inscriptions.settings import PROJECT_ROOT

# A service reviewed by hand with an extra status of its own, holding the place.
WORKFLOW: dict[str, Any] = {
    "mode": "manual",
    "statuses": [{"code": "pending_documents", "label": "En attente de pièces", "holds_place": True}],
    "transitions": [
        {"from": "submitted", "to": ["accepted", "rejected", "waitlisted", "pending_documents"],
         "roles": ["agent", "manager"]},
        {"from": "pending_documents", "to": ["accepted", "rejected"], "roles": ["manager"]},
    ],
}
FIELDS: list[dict[str, Any]] = [{"name": "note", "type": "text", "label": "Remarque"}]
SERVICES = {
    "pieces": small_service("pieces", "PIE", workflow=WORKFLOW, fields=FIELDS,
                            cancellation={"allowed": True, "until_hours_before_start": 48}),
    "pieces_fixe": small_service("pieces_fixe", "PIF", workflow=WORKFLOW, fields=FIELDS,
                                 cancellation={"allowed": False}),
}
CANCEL_LINK = "/annulation"


@pytest.fixture
def plugins_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "plugins"
    shutil.copytree(PROJECT_ROOT / "plugins" / "cantine", folder / "cantine")
    return write_services(folder, SERVICES)


@pytest.fixture
def book(logged_in: Household) -> Callable[..., Registration]:
    """Book the family's first child in session ``s1`` of ``service``, moved to ``status``."""

    def make(service: str = "pieces", status: str = "pending_documents") -> Registration:
        outcome = create_registrations(RegistrationInput(
            service_code=service, household_id=logged_in.id, channel="web", session_code="s1",
            participants=[ParticipantInput(child_id=logged_in.children[0].id, answers={})],
        ))
        (reg_id,) = outcome.registration_ids
        if status != Status.SUBMITTED:
            transition(reg_id, status, by_id=None)
        db.session.expire_all()
        # Booking outside a request cached the anonymous user in the shared app context's ``g``.
        g.pop("_login_user", None)
        return db.session.get(Registration, reg_id)

    return make


def _page(client: FlaskClient, reg: Registration) -> str:
    return unescape(client.get(f"/mes-inscriptions/{reg.reference}").get_data(as_text=True))


def test_registration_in_an_extra_status_has_its_cancel_button_and_cancels(
    client: FlaskClient, book: Callable[..., Registration]
) -> None:
    reg = book()
    assert reg.status == "pending_documents"
    assert cancellation_refusal(reg) is None
    assert f"/mes-inscriptions/{reg.reference}{CANCEL_LINK}" in _page(client, reg)
    listing = unescape(client.get("/mes-inscriptions").get_data(as_text=True))
    assert f"/mes-inscriptions/{reg.reference}{CANCEL_LINK}" in listing
    assert client.get(f"/mes-inscriptions/{reg.reference}{CANCEL_LINK}").status_code == 200
    response = client.post(f"/mes-inscriptions/{reg.reference}{CANCEL_LINK}", data={"reason": "Pièces perdues"})
    assert response.status_code == 302
    db.session.expire_all()
    reg = db.session.get(Registration, reg.id)
    assert reg.status == Status.CANCELLED
    assert CANCEL_LINK not in _page(client, reg)
    listing = unescape(client.get("/mes-inscriptions").get_data(as_text=True))
    assert f"{reg.reference}{CANCEL_LINK}" not in listing


def test_extra_status_of_a_service_without_online_cancelling_says_why(
    client: FlaskClient, book: Callable[..., Registration]
) -> None:
    reg = book("pieces_fixe")
    refusal = cancellation_refusal(reg)
    assert refusal is not None
    page = _page(client, reg)
    assert CANCEL_LINK not in page
    # The same reason on the page, on the cancel URL and from the cancellation itself.
    assert refusal in page
    response = client.get(f"/mes-inscriptions/{reg.reference}{CANCEL_LINK}")
    assert response.status_code == 302
    assert refusal in unescape(client.get(response.headers["Location"]).get_data(as_text=True))
    with pytest.raises(CancellationRefused, match=refusal):
        cancel_registration(reg.id, by_id=None)


def test_deadline_closes_the_button_and_the_cancellation_alike(
    client: FlaskClient, book: Callable[..., Registration], frozen_clock: Callable[[dt.datetime], None]
) -> None:
    reg = book(status=Status.ACCEPTED)
    assert f"{reg.reference}{CANCEL_LINK}" in _page(client, reg)
    # Session s1 starts on 2026-10-01 10:00; cancelling closes 48 hours before.
    frozen_clock(dt.datetime(2026, 9, 29, 11, 0, tzinfo=dt.UTC))
    refusal = cancellation_refusal(reg)
    assert refusal is not None
    page = _page(client, reg)
    assert CANCEL_LINK not in page and refusal in page
    listing = unescape(client.get("/mes-inscriptions").get_data(as_text=True))
    assert f"{reg.reference}{CANCEL_LINK}" not in listing
    with pytest.raises(CancellationRefused, match=refusal):
        cancel_registration(reg.id, by_id=None)


def test_finished_registrations_give_the_reason_cancelling_gives(book: Callable[..., Registration]) -> None:
    reg = book(status=Status.REJECTED)
    refusal = cancellation_refusal(reg)
    assert refusal is not None
    with pytest.raises(CancellationRefused, match=refusal):
        cancel_registration(reg.id, by_id=None)


def test_an_extra_status_shows_its_label_and_keeps_the_child_out_of_a_new_booking(
    client: FlaskClient, book: Callable[..., Registration], logged_in: Household
) -> None:
    reg = book()
    # The service's own wording, not the status code, on the family's pages.
    for path in ("/mes-inscriptions", f"/mes-inscriptions/{reg.reference}"):
        text = unescape(client.get(path).get_data(as_text=True))
        assert ">En attente de pièces<" in text
        assert ">pending_documents<" not in text
    # Starting another booking of the same session: the child already holds a registration there.
    child = logged_in.children[0]
    again = client.post("/services/pieces/inscription", data={"participant": f"c{child.id}", "session": "s1"})
    assert again.status_code == 200  # the form again, with the reason; no new draft
    assert child.first_name in unescape(again.get_data(as_text=True)).split('class="error-summary')[1][:600]
