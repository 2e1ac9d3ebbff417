"""Opening the entry form of a paper form by the code printed under its QR code (or its QR payload)."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from counter_helpers import canteen_answers, entry_key, setup_data, t, text_of
from flask import g

from inscriptions.audit import Action
from inscriptions.definitions.registry import current_version, registry
from inscriptions.extensions import db
from inscriptions.models import AuditEvent, Registration
from inscriptions.paper import tokens as T


def issue(service: str = "cantine", owner: tuple[int | None, int | None] = (None, None)) -> str:
    version = current_version(registry().get(service))
    (token,) = T.issue_tokens(1, form_version_id=version.id, pages=2, owners=[owner])
    db.session.commit()
    return token


@pytest.fixture
def household(make_household):  # type: ignore[no-untyped-def]
    return make_household(last_name="Papier", email=None, with_account=False,
                          children=[("Léa", dt.date(2018, 3, 1)), ("Tom", dt.date(2016, 5, 10))])


def test_a_prefilled_form_opens_the_entry_for_its_household_and_child(client, agent, household, open_household):
    tom = next(c for c in household.children if c.first_name == "Tom")
    token = issue(owner=(household.id, tom.id))
    code = T.human_code(token, 1)
    response = client.get("/guichet/code", query_string={"code": code})
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == f"/guichet/foyers/{household.id}/saisie/cantine"
    args = parse_qs(location.query)
    version = current_version(registry().get("cantine"))
    assert args == {"version": [str(version.id)], "channel": ["paper"], "child": [str(tom.id)]}
    event = db.session.scalar(db.select(AuditEvent).filter_by(action=Action.OPEN_PAPER_FORM))
    assert event.household_id == household.id and event.detail["token"] == token

    # The reason is asked first, then the set-up comes with the child, the version and "paper" chosen.
    g.pop("_login_user", None)
    assert client.get(response.headers["Location"]).status_code == 302
    open_household(household.id, reason="mail")
    page = text_of(client.get(response.headers["Location"]))
    assert re.search(rf'value="c{tom.id}" id="setup-participant-\d" checked', page)
    assert not re.search(r'value="c\d+" id="setup-participant-\d" checked', page.replace(f'value="c{tom.id}"', ""))
    assert re.search(r'<input checked[^>]*name="setup-channel"[^>]*value="paper"', page)
    assert f'name="setup-version" type="hidden" value="{version.id}"' in page


@pytest.mark.parametrize("typed", ["lower", "compact", "slips"])
def test_codes_are_forgiving_about_case_dashes_and_look_alike_letters(client, agent, household, typed):
    token = issue(owner=(household.id, None))
    code = T.human_code(token, 2)
    if typed == "lower":
        code = code.lower()
    elif typed == "compact":
        code = code.replace("-", " ")
    else:
        code = code.replace("0", "O").replace("1", "I")
    response = client.get("/guichet/code", query_string={"code": code})
    assert response.status_code == 302
    assert f"/guichet/foyers/{household.id}/saisie/cantine" in response.headers["Location"]


def test_a_typo_is_caught_by_the_check_character(client, agent, household):
    token = issue(owner=(household.id, None))
    code = T.human_code(token, 1)
    wrong = T.ALPHABET[(T.ALPHABET.index(code[0]) + 1) % 32] + code[1:]
    response = client.get("/guichet/code", query_string={"code": wrong})
    assert response.status_code == 422
    page = text_of(response)
    assert t("This code has a typing mistake: please check each character.") in page
    assert f'value="{wrong}"' in page  # kept, to be corrected
    assert 'aria-invalid="true" autofocus' in page


@pytest.mark.parametrize(("code", "message"), [
    ("unknown", "No printed form with this code exists here."),
    ("ABC", "A form code has 10 characters, a 2-digit page number and a check character, like K3M9Q-7TZ2B-01-X."),
    ("", "Type the code printed under the QR code of the paper form."),
])
def test_unknown_and_malformed_codes_are_explained(client, agent, code, message):
    if code == "unknown":
        code = T.human_code("ZZZZZZZZZZ", 1)
    response = client.get("/guichet/code", query_string={"code": code})
    assert response.status_code == 422
    assert t(message) in text_of(response)


def test_a_form_of_another_service_is_refused(client, agent, household):
    token = issue("piscine", owner=(household.id, None))
    response = client.get("/guichet/code", query_string={"code": T.human_code(token, 1)})
    assert response.status_code == 422
    assert t("This form is for “%(service)s”: you are not allowed to key forms for this service.",
             service=registry().get("piscine").definition.name) in text_of(response)


def test_a_scanned_qr_payload_opens_the_form_and_a_forged_one_is_refused(client, agent, household):
    token = issue(owner=(household.id, None))
    payload = T.payload(token, 1, 2)
    response = client.get("/guichet/code", query_string={"code": payload})
    assert response.status_code == 302
    assert f"/guichet/foyers/{household.id}/saisie/cantine" in response.headers["Location"]
    forged = payload[:-1] + ("A" if payload[-1] != "A" else "B")
    response = client.get("/guichet/code", query_string={"code": forged})
    assert response.status_code == 422
    assert t("The check code of this QR code does not match: it was altered or forged.") in text_of(response)


def test_a_blank_form_waits_while_the_agent_finds_the_family(client, agent, household, open_household):
    token = issue()
    code = T.human_code(token, 1)
    response = client.get("/guichet/code", query_string={"code": code})
    assert response.status_code == 302 and response.headers["Location"] == "/guichet/"
    page = text_of(client.get("/guichet/"))
    assert code in page

    open_household(household.id)
    page = text_of(client.get(f"/guichet/foyers/{household.id}"))
    version = current_version(registry().get("cantine"))
    assert f"/guichet/foyers/{household.id}/saisie/cantine?version={version.id}&channel=paper" in page

    # Once keyed, the pending form is forgotten.
    child = household.children[0].id
    url = f"/guichet/foyers/{household.id}/saisie/cantine"
    data = setup_data([child], channel="paper", received="14/09/2026", version=version.id)
    key = entry_key(client, url, data)
    response = client.post(url, data={**data, "_step": "entry", "_key": key, **canteen_answers(f"c{child}")})
    assert response.status_code == 302
    g.pop("_login_user", None)
    assert db.session.scalar(db.select(Registration)).form_version_id == version.id
    assert code not in text_of(client.get("/guichet/"))
