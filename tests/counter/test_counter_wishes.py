"""Keying several sessions (weeks) and ranked alternatives at the counter, and the confirmation
page of an application decided a moment later by the allocator (``ALLOCATION=worker``)."""

from __future__ import annotations

import copy
import datetime as dt
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from counter_helpers import KEY_INPUT, t, text_of
from flask import Flask, g
from flask_babel import ngettext

from inscriptions.allocation.worker import drain
from inscriptions.audit import Action
from inscriptions.definitions.registry import sync_all
from inscriptions.extensions import db
from inscriptions.models import Application, AuditEvent, Registration

KID = dt.date(2018, 3, 1)


def weeks(code: str, **overrides: Any) -> dict[str, Any]:
    """A child service with four small weeks (two places each), open on the tests' frozen day."""
    data: dict[str, Any] = {
        "code": code, "name": f"Service {code}", "reference_prefix": code[:3].upper(), "audience": "child",
        "opening": "2026-09-01T08:30:00", "closing": "2027-06-30T23:59:00", "workflow": "automatic",
        "retention_months": 12, "pricing": {"kind": "fixed", "amount": "10.00", "unit": "semaine"},
        "sessions": [{"code": f"w{n}", "label": f"Semaine {n}", "starts_at": f"2027-07-{5 + 7 * (n - 1):02d}T09:00:00",
                      "capacity": 2} for n in range(1, 5)],
        "form": {"pages": [{"title": "Questions", "fields": [
            {"name": "level", "type": "single_choice", "label": "Niveau", "required": True,
             "choices": [{"value": "a", "label": "A"}, {"value": "b", "label": "B"}]},
        ]}]},
    }
    data.update(copy.deepcopy(overrides))
    return data


SERVICES = [
    weeks("semaines", sessions_choice={"min": 1, "max": 3}),
    weeks("creneaux", reference_prefix="CRE", alternatives=1),
    weeks("voeux", reference_prefix="VOE", sessions_choice={"min": 1, "max": 2}, alternatives=1),
]


@pytest.fixture
def app(make_app: Callable[..., Flask], tmp_path: Path) -> Iterator[Flask]:
    plugins = tmp_path / "plugins"
    for defn in SERVICES:
        (plugins / defn["code"]).mkdir(parents=True)
        (plugins / defn["code"] / "service.yaml").write_text(yaml.safe_dump(defn, allow_unicode=True), "utf-8")
    application = make_app(PLUGINS_DIR=plugins, WTF_CSRF_ENABLED=False)
    with application.app_context():
        sync_all()
        yield application


@pytest.fixture
def family(make_household, open_household, staff, login_as):  # type: ignore[no-untyped-def]
    account = staff("agent", "semaines", email="agent@mairie.test")
    staff("agent", "creneaux", email="agent@mairie.test")
    staff("agent", "voeux", email="agent@mairie.test")
    login_as(account)
    household = make_household(last_name="Dupré", email=None, with_account=False,
                               children=[("Léa", KID), ("Tom", KID)])
    open_household(household.id)
    return household


def setup(household, **extra: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {"setup-participant": [f"c{c.id}" for c in household.children], "setup-channel": "counter",
            "setup-received_on": "", "setup-mediation_reason": "", "_step": "setup", **extra}


def answers(household) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {f"c{c.id}-level": "a" for c in household.children}


def url(household, code: str) -> str:  # type: ignore[no-untyped-def]
    return f"/guichet/foyers/{household.id}/saisie/{code}"


def key_submit(client, household, code: str, data: dict[str, Any]):  # type: ignore[no-untyped-def]
    """The set-up, then the entry page posted back with its hidden fields and the answers."""
    page = client.post(url(household, code), data=data)
    assert page.status_code == 200, text_of(page)[:3000]
    html = text_of(page)
    key = KEY_INPUT.search(html).group(1)
    hidden = re.findall(r'<input type="hidden" name="(setup-(?:sessions|wish-\d-\d))" value="([^"]*)">', html)
    posted: dict[str, Any] = {k: v for k, v in data.items() if not k.startswith(("setup-sessions", "setup-wish"))}
    for name, value in hidden:
        posted.setdefault(name, [])
        posted[name] = [*posted[name], value] if isinstance(posted[name], list) else value
    response = client.post(url(household, code), data={**posted, "_step": "entry", "_key": key, **answers(household)})
    g.pop("_login_user", None)
    return html, response


def registrations(household) -> list[Registration]:  # type: ignore[no-untyped-def]
    db.session.expire_all()
    return list(db.session.scalars(db.select(Registration).filter_by(household_id=household.id)
                                   .order_by(Registration.id)))


def test_several_weeks_are_ticked_and_registered_siblings_together(client, family):
    page = text_of(client.get(url(family, "semaines")))
    assert re.search(r'<input[^>]*type="checkbox"[^>]*name="setup-sessions"[^>]*value="w4"', page) or \
        re.search(r'<input[^>]*name="setup-sessions"[^>]*type="checkbox"[^>]*value="w4"', page)
    assert t("Choose at least %(min)s and at most %(max)s sessions.", min=1, max=3) in page

    entry_page, response = key_submit(client, family, "semaines", setup(family, **{"setup-sessions": ["w3", "w1"]}))
    assert "Semaine 1; Semaine 3" in entry_page  # the entry page recalls the weeks, in the service's order
    assert response.status_code == 302, text_of(response)[:3000]
    regs = registrations(family)
    assert sorted((r.session.code, r.child.first_name, r.status) for r in regs) == [
        ("w1", "Léa", "accepted"), ("w1", "Tom", "accepted"), ("w3", "Léa", "accepted"), ("w3", "Tom", "accepted")]
    assert len({r.batch for r in regs}) == 1
    confirmation = text_of(client.get(response.headers["Location"]))
    assert all(r.reference in confirmation for r in regs)
    assert 'http-equiv="refresh"' not in confirmation
    # One audit line per registration, as for one session.
    assert len(db.session.scalars(db.select(AuditEvent).filter_by(action=Action.REGISTER)).all()) == 4


def test_too_many_weeks_is_refused_with_everything_typed_kept(client, family):
    data = setup(family, **{"setup-sessions": ["w1", "w2", "w3", "w4"], "setup-channel": "paper",
                            "setup-received_on": "01092026"})
    response = client.post(url(family, "semaines"), data=data)
    page = text_of(response)
    assert response.status_code == 200 and not KEY_INPUT.search(page)  # still on the set-up step
    message = ngettext("Choose at most %(num)s session.", "Choose at most %(num)s sessions.", 3)
    assert "séances" in message and message in page
    assert re.search(r'<li><a href="#setup-sessions-0">[^<]*' + re.escape(message), page)
    for code in ("w1", "w2", "w3", "w4"):
        assert re.search(rf'<input checked[^>]*name="setup-sessions"[^>]*value="{code}"', page)
    assert 'value="01092026"' in page
    assert registrations(family) == [] and db.session.scalar(db.select(db.func.count(Application.id))) == 0


def test_an_alternative_equal_to_the_first_choice_is_refused_on_its_list(client, family):
    data = setup(family, **{"setup-wish-1-1": "w2", "setup-wish-1-2": "w2"})
    page = text_of(client.post(url(family, "creneaux"), data=data))
    assert not KEY_INPUT.search(page)
    message = t("The same session is chosen twice: an alternative must differ from the first choice and from "
                "the other choices.")
    assert re.search(r'id="setup-wish-1-2-error">.*?' + re.escape(message), page, re.S)
    assert not re.search(r'id="setup-wish-1-1-error"', page)
    # Both lists keep the session typed.
    assert len(re.findall(r'<option selected value="w2">', page)) == 2
    assert registrations(family) == []


def test_an_alternative_without_a_first_choice_is_refused(client, family):
    page = text_of(client.post(url(family, "creneaux"), data=setup(family, **{"setup-wish-1-2": "w3"})))
    assert re.search(r'id="setup-wish-1-1-error">.*?' + re.escape(t(
        "Fill in the choices in order: the 1st choice first, then the alternatives.")), page, re.S)


def test_the_alternative_is_given_when_the_first_choice_is_full(client, family, make_household, open_household):
    _first, response = key_submit(client, family, "creneaux", setup(family, **{"setup-wish-1-1": "w1"}))
    assert response.status_code == 302
    other = make_household(last_name="Petit", email=None, with_account=False, children=[("Zoé", KID)])
    open_household(other.id)
    entry_page, response = key_submit(client, other, "creneaux",
                                      setup(other, **{"setup-wish-1-1": "w1", "setup-wish-1-2": "w2"}))
    assert t("%(first)s (else %(others)s)", first="Semaine 1", others="Semaine 2") in entry_page
    assert response.status_code == 302, text_of(response)[:3000]
    [reg] = registrations(other)
    assert (reg.session.code, reg.status) == ("w2", "accepted")


def test_two_wishes_with_alternatives_and_the_error_summary_names_the_list(client, family):
    data = setup(family, **{"setup-wish-1-1": "w1", "setup-wish-2-1": "w1", "setup-wish-2-2": "w3"})
    page = text_of(client.post(url(family, "voeux"), data=data))
    assert re.search(r'<li><a href="#setup-wish-2-1">' + re.escape(
        t("Session wanted no. %(n)s", n=2) + " – " + t("1st choice")), page)
    data["setup-wish-2-1"] = "w2"
    _entry, response = key_submit(client, family, "voeux", data)
    assert response.status_code == 302, text_of(response)[:3000]
    application = db.session.scalar(db.select(Application))
    assert application.wishes == [["w1"], ["w2", "w3"]]


def test_worker_mode_shows_the_queue_then_the_outcome(app, client, family, make_household):
    app.config["ALLOCATION"] = "worker"
    _entry, response = key_submit(client, family, "semaines", setup(family, **{"setup-sessions": ["w1", "w2"]}))
    assert response.status_code == 302, text_of(response)[:3000]
    assert registrations(family) == []
    application = db.session.scalar(db.select(Application))
    waiting = text_of(client.get(response.headers["Location"]))
    assert '<meta http-equiv="refresh" content="3">' in waiting
    assert t("Application recorded, no. %(n)s in the queue — waiting for the places to be allocated", n=1) in waiting
    assert "Demande enregistrée, n° 1 dans la file — en attente de l'attribution des places" in waiting
    assert application.public_id("SEM") in waiting
    assert "<script" not in waiting.split("<body", 1)[1].split("</main>", 1)[0]
    # The agent's act is logged at once, with the application (no registration exists yet).
    [event] = db.session.scalars(db.select(AuditEvent).filter_by(action=Action.REGISTER)).all()
    assert event.registration_id is None and event.household_id == family.id
    assert event.detail["application_id"] == application.id and event.detail["pending"] is True

    assert drain("semaines") == 1
    decided = text_of(client.get(response.headers["Location"]))
    assert 'http-equiv="refresh"' not in decided
    regs = registrations(family)
    assert len(regs) == 4 and all(r.reference in decided for r in regs)
    assert "Semaine 1" in decided and "Semaine 2" in decided
    # Reading the confirmation writes nothing more to the audit log.
    assert len(db.session.scalars(db.select(AuditEvent).filter_by(action=Action.REGISTER)).all()) == 1


def test_worker_mode_a_refused_week_is_explained(app, client, family):
    app.config["ALLOCATION"] = "worker"
    _entry, _first = key_submit(client, family, "semaines", setup(family, **{"setup-sessions": ["w1"]}))
    _entry, second = key_submit(client, family, "semaines", setup(family, **{"setup-sessions": ["w1", "w2"]}))
    assert drain("semaines") == 2
    page = text_of(client.get(second.headers["Location"]))
    # w1 was already held by the first application: refused as a duplicate, w2 given.
    assert t("This person already had a place or was already waiting in this session.") in page
    assert t("Not registered:") in page
    assert "Semaine 2" in page


def test_a_pending_confirmation_of_another_service_is_not_shown(app, client, family, staff, login_as):
    app.config["ALLOCATION"] = "worker"
    _entry, response = key_submit(client, family, "semaines", setup(family, **{"setup-sessions": ["w1"]}))
    login_as(staff("agent", "creneaux", email="autre@mairie.test"))
    assert client.get(response.headers["Location"]).status_code == 404
