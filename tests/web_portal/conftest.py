"""Fixtures of the portal tests: an app without CSRF on a plugins folder of test services.

The canteen is the real one (plugins/cantine); the other services are small definitions written
here so the tests do not depend on the demo services' exact wording or dates.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from inscriptions.extensions import db
from inscriptions.models import Draft, Household, Registration
from inscriptions.privacy.sealing import unsealed
from inscriptions.settings import PROJECT_ROOT

SERVICES = {
    "natation": """
code: natation
name: Natation test
description: Cours de natation pour les 6-12 ans.
reference_prefix: TNA
audience: child
age: {min: 6, max: 12}
opening: 2026-09-01T08:30:00
closing: 2027-03-31T23:59:00
workflow: manual
retention_months: 24
pricing: {kind: effort_rate, unit: trimestre, rate_percent: "3", min: "30.00", max: "120.00"}
sessions:
  - {code: mer, label: Mercredi 14 h, starts_at: 2027-01-06T14:00:00, capacity: 2}
  - {code: sam, label: Samedi 10 h, starts_at: 2027-01-09T10:00:00, capacity: 10}
  - {code: passee, label: Séance passée, starts_at: 2026-09-10T10:00:00, capacity: 10}
form:
  pages:
    - title: Niveau
      fields:
        - name: level
          type: single_choice
          label: Niveau de l'enfant
          required: true
          choices: [{value: debutant, label: Débutant}, {value: nageur, label: Nageur confirmé}]
        - name: certificate
          type: file
          label: Certificat médical
          accept: [pdf, jpeg, png]
          max_size_mb: 1
          sensitive: true
    - title: Engagement
      each_participant: false
      fields:
        - {name: rules, type: consent, label: J'accepte le règlement de la piscine., required: true}
""",
    "cine": """
code: cine
name: Ciné test
description: Une séance pour toute la famille.
reference_prefix: TCI
audience: household
opening: 2026-09-01T08:30:00
closing: 2027-02-27T12:00:00
workflow: automatic
retention_months: 12
pricing:
  kind: tariffs
  unit: séance
  items:
    - {field: child_seats, label: place enfant, price: "3.50"}
    - {field: adult_seats, label: place adulte, price: "5.00"}
sessions:
  - {code: dec, label: Samedi 12 décembre, starts_at: 2026-12-12T15:00:00, capacity: 5}
places: {sum_of: [child_seats, adult_seats]}
form:
  pages:
    - title: Vos places
      fields:
        - {name: child_seats, type: integer, label: Places enfant, required: true, min: 0, max: 6}
        - {name: adult_seats, type: integer, label: Places adulte, required: true, min: 0, max: 6}
""",
    "atelier": """
code: atelier
name: Atelier test
reference_prefix: TAT
audience: adult
eligibility: {residents_only: true}
opening: 2026-09-01T08:30:00
closing: 2027-06-30T23:59:00
workflow: automatic
cancellation: {allowed: false}
retention_months: 12
pricing: {kind: fixed, amount: "12.00", unit: trimestre}
form:
  pages:
    - title: Vos coordonnées
      fields:
        - {name: phone, type: phone_fr, label: Téléphone, required: true}
""",
    "futur": """
code: futur
name: Futur test
reference_prefix: TFU
audience: child
opening: 2027-01-04T08:30:00
closing: 2027-06-30T23:59:00
workflow: automatic
retention_months: 12
pricing: {kind: free}
form:
  pages:
    - title: Page
      fields:
        - {name: note, type: text, label: Note}
""",
    "tous": """
code: tous
name: Tous les champs
reference_prefix: TTO
audience: child
opening: 2026-09-01T08:30:00
closing: 2027-06-30T23:59:00
workflow: automatic
retention_months: 12
pricing: {kind: free}
form:
  pages:
    - title: Tout
      fields:
        - {name: nickname, type: text, label: Surnom, required: true, max_length: 30}
        - {name: story, type: long_text, label: Histoire}
        - {name: mail, type: email, label: Courriel}
        - {name: tel, type: phone_fr, label: Téléphone}
        - {name: cp, type: postcode_fr, label: Code postal}
        - {name: day, type: date, label: Date, min: 2026-01-01, max: 2027-12-31}
        - {name: count, type: integer, label: Nombre, min: 0, max: 9}
        - name: colour
          type: single_choice
          label: Couleur
          choices: [{value: red, label: Rouge}, {value: blue, label: Bleu}]
        - name: shade
          type: text
          label: Nuance de bleu
          show_if: {field: colour, in: [blue]}
        - name: sports
          type: multiple_choice
          label: Sports
          choices: [{value: judo, label: Judo}, {value: foot, label: Football}]
        - name: belt
          type: text
          label: Ceinture de judo
          required: true
          show_if: {field: sports, contains: judo}
        - {name: days, type: weekdays, label: Jours, days: [mon, wed]}
        - {name: helmet, type: yes_no, label: Casque, sensitive: true}
        - {name: agree, type: consent, label: D'accord}
        - {name: doc, type: file, label: Document, accept: [pdf], max_size_mb: 1}
        - name: people
          type: group
          label: Personnes autorisées
          max_items: 3
          fields:
            - {name: name, type: text, label: Nom, required: true}
            - {name: phone, type: phone_fr, label: Téléphone, required: true}
""",
}


@pytest.fixture
def plugins_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "plugins"
    shutil.copytree(PROJECT_ROOT / "plugins" / "cantine", folder / "cantine")
    for code, text in SERVICES.items():
        (folder / code).mkdir()
        (folder / code / "service.yaml").write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def app(make_app: Callable[..., Flask], plugins_dir: Path) -> Iterator[Flask]:
    application = make_app(WTF_CSRF_ENABLED=False, PLUGINS_DIR=plugins_dir)
    with application.app_context():
        yield application


@pytest.fixture
def family(make_household: Callable[..., Household]) -> Household:
    """Two children of canteen age: Léa (8) and Tom (6)."""
    return make_household(children=[("Léa", dt.date(2018, 3, 1)), ("Tom", dt.date(2020, 5, 2))])


@pytest.fixture
def logged_in(family: Household, login: Callable[[Household], object]) -> Household:
    login(family)
    return family


class Portal:
    """Small helpers to drive the portal with the test client."""

    def __init__(self, client: FlaskClient):
        self.client = client

    @staticmethod
    def token_of(response) -> str:  # type: ignore[no-untyped-def]
        """The draft token in a redirect to a form page."""
        found = re.search(r"/inscription/([0-9a-f]{32})/", response.headers["Location"])
        assert found, response.headers.get("Location")
        return found.group(1)

    def start(self, code: str, **form: object) -> str:
        """Post the first step (who, when) and return the new draft's token."""
        response = self.client.post(f"/services/{code}/inscription", data=form)
        assert response.status_code == 302, response.get_data(as_text=True)
        return self.token_of(response)

    def page(self, token: str, number: int, data: dict | None = None, action: str = "next"):  # type: ignore[no-untyped-def]
        payload = {"_action": action, **(data or {})}
        return self.client.post(f"/inscription/{token}/etape/{number}", data=payload,
                                content_type="multipart/form-data")

    def confirm(self, token: str):  # type: ignore[no-untyped-def]
        return self.client.post(f"/inscription/{token}/recapitulatif")

    @staticmethod
    def registrations(household: Household) -> list[Registration]:
        db.session.expire_all()
        return list(db.session.scalars(
            db.select(Registration).filter_by(household_id=household.id).order_by(Registration.id)
        ))

    @staticmethod
    def raw_draft_state(token: str) -> dict:
        """The draft as stored (sensitive answers sealed)."""
        db.session.expire_all()
        return db.session.scalar(db.select(Draft).filter_by(token=token)).state

    @classmethod
    def draft_state(cls, token: str) -> dict:
        """The draft's answers as the family reads them (sealed ones opened)."""
        return unsealed(cls.raw_draft_state(token))


@pytest.fixture
def portal(client: FlaskClient) -> Portal:
    return Portal(client)
