"""Scanned forms of services with several sessions and ranked alternatives: the sessions ticked
on paper prefill the check page, the agent corrects them with the counter's lists, and with
``ALLOCATION=worker`` the evidence page waits for the allocator, then shows the outcome."""

from __future__ import annotations

import copy
import datetime as dt
import io
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from flask import Flask, g
from flask.testing import FlaskClient
from sqlalchemy import select

from inscriptions.allocation.worker import drain
from inscriptions.audit import Action
from inscriptions.definitions.registry import current_version, registry, sync_all
from inscriptions.extensions import db
from inscriptions.models import Application, AuditEvent, FormVersion, Household, PrintToken, Registration
from inscriptions.paper.layout import layout_for
from inscriptions.paper.reader import simulate as sim

VOEUX: dict[str, Any] = {
    "code": "voeux", "name": "Centre d'été", "reference_prefix": "VOE", "audience": "child",
    "opening": "2026-09-01T08:30:00", "closing": "2027-06-30T23:59:00", "workflow": "automatic",
    "retention_months": 12, "pricing": {"kind": "fixed", "amount": "10.00", "unit": "semaine"},
    "sessions": [{"code": f"w{n}", "label": f"Semaine {n}", "starts_at": f"2027-07-{5 + 7 * (n - 1):02d}T09:00:00",
                  "capacity": 2} for n in range(1, 5)],
    "sessions_choice": {"min": 1, "max": 2}, "alternatives": 1,
    "form": {"pages": [{"title": "Questions", "fields": [
        {"name": "level", "type": "single_choice", "label": "Niveau", "required": True,
         "choices": [{"value": "a", "label": "A"}, {"value": "b", "label": "B"}]},
    ]}]},
}


@pytest.fixture
def app(make_app: Callable[..., Flask], tmp_path: Path) -> Iterator[Flask]:
    folder = tmp_path / "plugins" / "voeux"
    folder.mkdir(parents=True)
    (folder / "service.yaml").write_text(yaml.safe_dump(copy.deepcopy(VOEUX), allow_unicode=True), "utf-8")
    application = make_app(PLUGINS_DIR=tmp_path / "plugins", WTF_CSRF_ENABLED=False)
    with application.app_context():
        sync_all()
        yield application


@pytest.fixture
def version(app: Flask) -> FormVersion:
    found = current_version(registry().get("voeux"))
    layout_for(found)
    db.session.commit()
    return found


@pytest.fixture
def family(make_household: Callable[..., Household], staff, login_as) -> Household:  # type: ignore[no-untyped-def]
    login_as(staff("agent", "voeux"))
    return make_household(last_name="Durand", children=[("Léo", dt.date(2018, 5, 2))])


def scanned(version: FormVersion, family: Household, ticked: dict[str, Any]) -> tuple[str, list[sim.SimPage]]:
    """A form prefilled for the family's child, ticked, scanned and uploaded; returns its token."""
    pages, _answers = sim.filled_documents(version, 1, np.random.default_rng(3), answers=[ticked],
                                           settings=lambda _r: sim.ScanSettings(dpi=200, jpeg=None),
                                           styles={"cross": 1.0}, smudges=0.0)
    row = db.session.scalar(select(PrintToken).filter_by(token=pages[0].token))
    row.household_id, row.child_id = family.id, family.children[0].id
    db.session.commit()
    return pages[0].token, pages


def upload(client: FlaskClient, pages: list[sim.SimPage]) -> None:
    files = [(io.BytesIO(p.data), p.filename) for p in pages]
    response = client.post("/guichet/numerisation/", data={"scans": files}, content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]


def selected(html: str, name: str) -> str | None:
    block = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', html, re.S)
    assert block, name
    found = re.search(r'<option selected value="([^"]*)">', block.group(1))
    return found.group(1) if found else None


def test_the_grid_read_on_paper_is_checked_corrected_and_allocated(app, client, version, family):  # type: ignore[no-untyped-def]
    app.config["ALLOCATION"] = "worker"
    token, pages = scanned(version, family, {"session.1.1": "w1", "session.1.2": "w3", "session.2.1": "w2",
                                             "level": "a"})
    upload(client, pages)
    url = f"/guichet/numerisation/documents/{token}"
    html = client.get(url).get_data(as_text=True)
    # The sessions ticked on paper fill the counter's lists.
    assert [selected(html, f"setup-wish-{w}-{r}") for w, r in ((1, 1), (1, 2), (2, 1), (2, 2))] == [
        "w1", "w3", "w2", ""]

    child = family.children[0].id
    # The agent makes a mistake: an alternative equal to a first choice. Nothing is saved, all is kept.
    wrong = {"setup-wish-1-1": "w1", "setup-wish-1-2": "w2", "setup-wish-2-1": "w2", f"c{child}-level": "b"}
    response = client.post(url, data=wrong)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="setup-wish-2-1-error"' in page and '<a href="#setup-wish-2-1">' in page
    assert selected(page, "setup-wish-1-2") == "w2"
    assert re.search(rf'<input[^>]*checked[^>]*id="c{child}-level-1"|<input[^>]*id="c{child}-level-1"[^>]*checked',
                     page)
    assert db.session.scalar(select(db.func.count(Application.id))) == 0

    right = {**wrong, "setup-wish-1-2": "w3"}
    response = client.post(url, data=right)
    assert response.status_code == 302, re.findall(r'field-error"[^>]*>(.*?)</p>', response.get_data(as_text=True),
                                                   re.S)
    g.pop("_login_user", None)
    application = db.session.scalar(select(Application))
    assert application.wishes == [["w1", "w3"], ["w2"]] and application.channel == "paper"
    [event] = db.session.scalars(select(AuditEvent).filter_by(action=Action.REGISTER)).all()
    assert event.registration_id is None and event.detail["application_id"] == application.id
    assert event.detail["token"] == token

    evidence = client.get(response.headers["Location"]).get_data(as_text=True)
    assert '<meta http-equiv="refresh" content="3">' in evidence
    assert "Demande enregistrée, n° 1 dans la file — en attente de l'attribution des places" in evidence
    assert application.public_id("VOE") in evidence

    assert drain("voeux") == 1
    db.session.expire_all()
    evidence = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'http-equiv="refresh"' not in evidence
    regs = db.session.scalars(select(Registration).order_by(Registration.id)).all()
    assert sorted(r.session.code for r in regs) == ["w1", "w2"]
    assert all(r.reference in evidence for r in regs)
    assert "Semaine 1" in evidence and "Semaine 2" in evidence
    assert "w1 &gt; w3" in evidence  # the sessions confirmed, kept with the scan evidence
