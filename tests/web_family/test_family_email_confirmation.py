"""A guardian's e-mail address receives nothing about the household until its owner confirms it."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from family_helpers import csrf_token_of, text_of
from flask import Flask
from sqlalchemy import select

from inscriptions.extensions import db
from inscriptions.family.email_confirmation import make_token
from inscriptions.models import Guardian
from inscriptions.notifications import household_emails

SECOND = {"first_name": "Dominique", "last_name": "Bernard", "email": "dom@example.fr", "phone": ""}


@pytest.fixture
def outbox(app: Flask) -> list:  # type: ignore[type-arg]
    state = app.extensions["mailman"]
    state.outbox = []
    return state.outbox


@pytest.fixture
def family(make_household, login):  # type: ignore[no-untyped-def]
    household = make_household(children=[("Léa", dt.date(2018, 3, 1))])
    login(household)
    return household


def second_guardian() -> Guardian:
    db.session.expire_all()
    return db.session.scalar(select(Guardian).filter_by(first_name="Dominique"))


def link_in(message) -> str:  # type: ignore[no-untyped-def]
    found = re.search(r"https?://\S+/adresse/confirmer/\S+", message.body)
    assert found is not None, message.body
    return found[0].split("localhost", 1)[1]


def test_a_typed_address_gets_a_link_and_nothing_else_until_confirmed(client, submit, family, outbox) -> None:  # type: ignore[no-untyped-def]
    added = submit("/mon-foyer/responsables/ajouter", SECOND, follow_redirects=True)
    assert "dom@example.fr" in text_of(added) and "pas encore confirmée" in text_of(added)
    [message] = outbox
    assert message.to == ["dom@example.fr"]
    # It may reach a stranger typed by mistake: no one's name, nothing of the household.
    assert "Léa" not in message.body and "Martin" not in message.body and "Dominique" not in message.body
    assert "dom@example.fr" not in household_emails(family.id)

    link = link_in(message)
    page = client.get(link)  # opening the link (a mail scanner does) confirms nothing
    assert page.status_code == 200 and second_guardian().email_confirmed_at is None
    confirmed = client.post(link, data={"csrf_token": csrf_token_of(page.get_data(as_text=True))})
    assert confirmed.status_code == 200 and "est confirmée" in text_of(confirmed)
    assert second_guardian().email_confirmed_at is not None
    assert "dom@example.fr" in household_emails(family.id)
    assert "pas encore confirmée" not in text_of(client.get("/mon-foyer/"))


def test_a_changed_address_must_be_confirmed_again_and_old_links_stop_working(  # type: ignore[no-untyped-def]
        client, submit, family, outbox) -> None:
    submit("/mon-foyer/responsables/ajouter", SECOND)
    old_link = link_in(outbox[0])
    page = client.get(old_link)
    client.post(old_link, data={"csrf_token": csrf_token_of(page.get_data(as_text=True))})
    guardian = second_guardian()
    assert guardian.email_confirmed
    submit(f"/mon-foyer/responsables/{guardian.id}", {**SECOND, "email": "autre@example.fr"})
    guardian = second_guardian()
    assert guardian.email == "autre@example.fr" and guardian.email_confirmed_at is None
    assert household_emails(family.id) == ["parent1@example.fr"]
    assert client.get(old_link).status_code == 404  # made for the old address
    assert outbox[-1].to == ["autre@example.fr"]
    # Saving the same address again asks nothing more.
    submit(f"/mon-foyer/responsables/{guardian.id}", {**SECOND, "email": "autre@example.fr", "phone": "0611223344"})
    assert len(outbox) == 2


def test_the_family_can_send_the_link_again(client, submit, family, outbox) -> None:  # type: ignore[no-untyped-def]
    submit("/mon-foyer/responsables/ajouter", SECOND)
    guardian = second_guardian()
    again = submit(f"/mon-foyer/responsables/{guardian.id}/confirmation", {}, page="/mon-foyer/")
    assert again.status_code == 302 and len(outbox) == 2 and outbox[1].to == ["dom@example.fr"]


def test_forged_or_expired_links_confirm_nothing(client, submit, family, outbox, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from inscriptions.family import email_confirmation

    submit("/mon-foyer/responsables/ajouter", SECOND)
    guardian = second_guardian()
    assert client.get("/adresse/confirmer/forged").status_code == 404
    token = make_token(guardian)
    assert client.get(f"/adresse/confirmer/{token}").status_code == 200
    monkeypatch.setattr(email_confirmation, "MAX_AGE_S", -1)  # as if the week had passed
    assert client.get(f"/adresse/confirmer/{token}").status_code == 404
    assert second_guardian().email_confirmed_at is None


def test_an_address_set_through_any_channel_starts_unconfirmed(  # type: ignore[no-untyped-def]
        app, make_household, outbox) -> None:
    paper_only = make_household(email=None, with_account=False, last_name="Petit")
    assert household_emails(paper_only.id) == []  # letters on paper, no e-mail needed
    typed = make_household(email=None, with_account=False, last_name="Roux")
    guardian = typed.guardians[0]
    guardian.email = "roux@example.fr"  # as an agent keys it from a paper form
    db.session.commit()
    assert guardian.email_confirmed_at is None and household_emails(typed.id) == []
