"""The counter's household search: names without accents or case, e-mail, phone, reference."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from counter_helpers import t, text_of
from flask import g

from inscriptions.audit import Action, events_of_household
from inscriptions.counter.search import fold, search_households
from inscriptions.extensions import db
from inscriptions.models import AuditEvent, Registration


def ids(households) -> set[int]:  # type: ignore[no-untyped-def]
    return {h.id for h in households}


@pytest.fixture
def families(make_household):  # type: ignore[no-untyped-def]
    lefevre = make_household(last_name="Lefèvre-D'Arc", children=[("Zoé", dt.date(2017, 5, 2))],
                             email="Zoe.Parent@Example.fr")
    lefevre.guardians[0].phone = "06 12 34 56 78"
    martin = make_household(last_name="Martin", children=[("Léa", dt.date(2018, 3, 1)), ("Hugo", dt.date(2016, 1, 9))])
    other_martin = make_household(last_name="Martin", children=[("Noé", dt.date(2019, 4, 4))])
    db.session.commit()
    return {"lefevre": lefevre, "martin": martin, "other_martin": other_martin}


def test_fold_removes_accents_case_hyphens_and_apostrophes():
    assert fold("  Lefèvre-D’Arc  Œdipe ") == "lefevre d arc oedipe"


@pytest.mark.parametrize("query", ["lefevre", "LEFÈVRE", "Lefevre-d'arc", "lefevre d arc", "D’ARC"])
def test_a_guardian_is_found_whatever_the_accents_case_and_punctuation(app, families, query):
    assert ids(search_households(query)) == {families["lefevre"].id}


def test_a_child_first_name_finds_the_household(app, families):
    assert ids(search_households("zoe")) == {families["lefevre"].id}
    assert ids(search_households("NOÉ")) == {families["other_martin"].id}


def test_every_word_must_match_someone_of_the_household(app, families):
    assert ids(search_households("martin")) == {families["martin"].id, families["other_martin"].id}
    assert ids(search_households("martin lea")) == {families["martin"].id}
    assert ids(search_households("lea hugo")) == {families["martin"].id}
    assert search_households("martin zoe") == []


def test_an_email_finds_the_household_whatever_its_case(app, families):
    assert ids(search_households("zoe.parent@example.FR")) == {families["lefevre"].id}
    assert ids(search_households("zoe.parent@")) == {families["lefevre"].id}


@pytest.mark.parametrize("query", ["0612345678", "06 12 34 56 78", "06.12.34.56.78", "+33 6 12 34 56 78", "56 78"])
def test_a_phone_number_finds_the_household_however_it_is_typed(app, families, query):
    assert ids(search_households(query)) == {families["lefevre"].id}


def test_a_registration_reference_finds_the_household(app, families, client, agent):
    from inscriptions.registrations.create import ParticipantInput, RegistrationInput, create_registrations

    martin = families["martin"]
    outcome = create_registrations(RegistrationInput(
        service_code="cantine", household_id=martin.id, channel="counter",
        participants=[ParticipantInput(child_id=martin.children[0].id, answers={
            "days": ["mon"], "diet": "standard", "allergy": "no", "rules": "y"})],
    ))
    reference = db.session.get(Registration, outcome.registration_ids[0]).reference
    assert ids(search_households(reference)) == {martin.id}
    assert ids(search_households(reference.lower())) == {martin.id}
    # Through the page too: the result links to the household's file.
    g.pop("_login_user", None)  # the confirmation job ran in this test's context
    page = text_of(client.get("/guichet/", query_string={"q": reference}))
    assert f'href="/guichet/foyers/{martin.id}"' in page


def test_the_search_page_lists_results_as_links_and_logs_the_search(client, agent, families):
    response = client.get("/guichet/", query_string={"q": "martin"})
    assert response.status_code == 200
    page = text_of(response)
    links = re.findall(r'<a class="counter-results__link" href="/guichet/foyers/(\d+)">', page)
    assert set(map(int, links)) == {families["martin"].id, families["other_martin"].id}
    assert "Léa (2018)" in page
    event = db.session.scalar(db.select(AuditEvent).filter_by(action=Action.SEARCH))
    assert event.actor_account_id == agent.id
    found = sorted([families["martin"].id, families["other_martin"].id])
    assert event.detail == {"query": "martin", "results": 2, "households": found}
    # Each household found has the search in its history; the one not found does not.
    assert event in events_of_household(families["martin"].id)
    assert event in events_of_household(families["other_martin"].id)
    assert event not in events_of_household(families["lefevre"].id)
    assert (event.role, event.channel) == ("agent:cantine", "web")


def test_a_query_too_short_is_explained(client, agent, families):
    page = text_of(client.get("/guichet/", query_string={"q": "m"}))
    assert t("Type at least %(n)s characters.", n=2) in page
    assert db.session.scalar(db.select(AuditEvent).filter_by(action=Action.SEARCH)) is None


def test_the_search_box_has_the_focus(client, agent):
    page = text_of(client.get("/guichet/"))
    assert re.search(r'<input[^>]*id="q"[^>]*autofocus', page, re.S)
