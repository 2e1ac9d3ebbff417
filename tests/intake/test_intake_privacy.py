"""Scan intake and other services' staff, and sensitive answers read on a scan.

- The link from a registration to its scan evidence checks the service before redirecting: the
  redirect would otherwise hand the scan batch id to an agent of another service.
- An agent without ``read_sensitive_answers`` does not see what the machine read for a sensitive
  question (the canteen's allergy / PAI question), yet the value read is registered.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from flask_babel import gettext
from sqlalchemy import select
from test_intake_flow import batch_of, upload

from inscriptions.extensions import db
from inscriptions.models import Account, Household, Registration
from inscriptions.paper.reader import simulate as sim
from inscriptions.privacy.sealing import unsealed

# The canteen form with the sensitive question ticked "yes": a value worth hiding.
ALLERGIC: dict[str, Any] = {"days": ["mon", "thu"], "diet": "sans_porc", "allergy": True, "rules": True}
WITHHELD_NOTE = "Read on the paper form: this private answer is shown only to the staff allowed to read it."


@pytest.fixture
def allergic_form(scanned_form: Callable[..., list[sim.SimPage]]) -> list[sim.SimPage]:
    """A canteen form for ``family``'s child, the allergy question ticked "yes", scanned."""
    return scanned_form(seed=11, answers=ALLERGIC)


def _allergy_inputs(html: str, child_id: int) -> list[str]:
    return re.findall(rf'<input[^>]*name="c{child_id}-allergy"[^>]*>', html)


def _confirm(client: FlaskClient, token: str, child_id: int, **extra: Any):
    """Post the entry form as an agent would (the sensitive question left as the page shows it)."""
    data = {f"c{child_id}-days": ["mon", "thu"], f"c{child_id}-diet": "sans_porc",
            "pickup-0-name": "Jeanne Martin", "pickup-0-phone": "06 12 34 56 78", "rules": "y", **extra}
    return client.post(f"/guichet/numerisation/documents/{token}", data=data)


def test_agent_without_the_permission_does_not_see_the_sensitive_answer_read_yet_it_is_registered(
    client: FlaskClient, agent: Account, allergic_form: list[sim.SimPage], family: Household
) -> None:
    token = allergic_form[0].token
    child = family.children[0]
    upload(client, allergic_form)
    html = client.get(f"/guichet/numerisation/documents/{token}").get_data(as_text=True)
    # The question is there, its answer is not: no input (checked or not), a note instead.
    assert "allergie alimentaire" in html
    assert _allergy_inputs(html, child.id) == []
    assert gettext(WITHHELD_NOTE) in html
    # Other answers read are still filled in.
    tag = re.search(rf'<input[^>]*name="c{child.id}-diet"[^>]*value="sans_porc"[^>]*>', html)
    assert tag and "checked" in tag.group(0)

    response = _confirm(client, token, child.id)
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    reg = db.session.scalar(select(Registration).filter_by(household_id=family.id))
    assert reg is not None
    # The machine-read sensitive answer is registered, as the family ticked it on paper.
    assert unsealed(reg.answers)["allergy"] is True
    assert unsealed(reg.answers)["diet"] == "sans_porc"


def test_agent_without_the_permission_cannot_override_nor_lose_the_hidden_answer(
    client: FlaskClient, agent: Account, allergic_form: list[sim.SimPage], family: Household
) -> None:
    token = allergic_form[0].token
    child = family.children[0]
    upload(client, allergic_form)
    # A value posted for the hidden question (a crafted request) does not replace the one read.
    response = _confirm(client, token, child.id, **{f"c{child.id}-allergy": "no"})
    assert response.status_code == 302
    reg = db.session.scalar(select(Registration).filter_by(household_id=family.id))
    assert unsealed(reg.answers)["allergy"] is True


def test_refused_entry_shown_again_still_hides_and_keeps_the_sensitive_answer(
    client: FlaskClient, agent: Account, allergic_form: list[sim.SimPage], family: Household
) -> None:
    token = allergic_form[0].token
    child = family.children[0]
    upload(client, allergic_form)
    refused = _confirm(client, token, child.id, rules="")  # the rules consent is required
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert _allergy_inputs(html, child.id) == []
    assert gettext(WITHHELD_NOTE) in html
    assert _confirm(client, token, child.id).status_code == 302
    reg = db.session.scalar(select(Registration).filter_by(household_id=family.id))
    assert unsealed(reg.answers)["allergy"] is True


def test_manager_still_sees_the_sensitive_answer_read_prefilled(
    client: FlaskClient, staff: Callable[..., Account], login_as: Callable[[Account], Account],
    allergic_form: list[sim.SimPage], family: Household,
) -> None:
    token = allergic_form[0].token
    child = family.children[0]
    login_as(staff("manager", "cantine"))
    upload(client, allergic_form)
    html = client.get(f"/guichet/numerisation/documents/{token}").get_data(as_text=True)
    assert gettext(WITHHELD_NOTE) not in html
    tag = re.search(rf'<input[^>]*name="c{child.id}-allergy"[^>]*value="yes"[^>]*>', html)
    assert tag and "checked" in tag.group(0)
    # What the manager posts is what is registered.
    response = _confirm(client, token, child.id, **{f"c{child.id}-allergy": "no"})
    assert response.status_code == 302
    reg = db.session.scalar(select(Registration).filter_by(household_id=family.id))
    assert unsealed(reg.answers)["allergy"] is False


def test_evidence_link_of_another_service_does_not_reveal_the_scan_batch(
    client: FlaskClient, agent: Account, staff: Callable[..., Account], login_as: Callable[[Account], Account],
    scanned_form: Callable[..., list[sim.SimPage]], family: Household,
) -> None:
    pages = scanned_form(seed=4)
    token = pages[0].token
    batch_of(upload(client, pages))
    child = family.children[0]
    assert _confirm(client, token, child.id, **{f"c{child.id}-allergy": "no"}).status_code == 302
    reg = db.session.scalar(select(Registration).filter_by(household_id=family.id))
    url = f"/guichet/numerisation/registrations/{reg.reference}"

    # The evidence page itself refuses the other service's agent with 403: so does the link.
    login_as(staff("agent", "piscine"))
    assert client.get(f"/guichet/numerisation/preuves/{reg.batch}").status_code == 403
    response = client.get(url)
    assert response.status_code == 403
    assert "Location" not in response.headers
    assert reg.batch not in response.get_data(as_text=True)

    # The canteen's agent still follows the link to the evidence.
    login_as(agent)
    response = client.get(url)
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/guichet/numerisation/preuves/{reg.batch}")
