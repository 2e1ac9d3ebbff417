"""Plain helpers of the privacy tests: the test service, uploads, accounts."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import yaml
from werkzeug.datastructures import FileStorage

from inscriptions.extensions import db
from inscriptions.models import Account, Household
from inscriptions.uploads import store_upload

PASSWORD = "correct horse battery staple"  # tests/conftest.py's make_household password



def _tiny_png() -> bytes:
    """A small real PNG (uploads decode every image they keep)."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (2, 2), (255, 255, 255)).save(out, "PNG")
    return out.getvalue()


PNG = _tiny_png()

ATELIER: dict[str, Any] = {
    "code": "atelier",
    "name": "Atelier test",
    "reference_prefix": "ATL",
    "audience": "child",
    "opening": "2026-09-01T08:30:00",
    "closing": "2027-06-30T23:59:00",
    "workflow": "automatic",
    "retention_months": 12,
    "photo_consent": {"purpose": "Photos du spectacle de fin d'année"},
    "pricing": {"kind": "fixed", "amount": "10.00", "unit": "stage"},
    "sessions": [
        # Ends 2026-10-02: past retention from 2027-10-02 (12 months).
        {"code": "old", "label": "Octobre", "starts_at": "2026-10-01T09:00:00",
         "ends_at": "2026-10-02T17:00:00", "capacity": 10},
        {"code": "later", "label": "Mars", "starts_at": "2027-03-01T09:00:00", "capacity": 10},
    ],
    "form": {"pages": [{"title": "Questions", "fields": [
        {"name": "level", "type": "single_choice", "label": "Niveau", "required": True,
         "choices": [{"value": "a", "label": "A"}, {"value": "b", "label": "B"}]},
        {"name": "allergies", "type": "long_text", "label": "Allergies", "sensitive": True},
        {"name": "contacts", "type": "group", "label": "Personnes à prévenir", "max_items": 3, "fields": [
            {"name": "who", "type": "text", "label": "Nom"},
            {"name": "health_note", "type": "text", "label": "Note de santé", "sensitive": True},
        ]},
        {"name": "certificate", "type": "file", "label": "Certificat"},
    ]}]},
}

ANSWERS = {
    "level": "a",
    "allergies": "ARACHIDES-SECRET",
    "contacts": [{"who": "Mamie Jeanne", "health_note": "ASTHME-SECRET"}],
}


def write_plugins(root: Path, *definitions: dict[str, Any]) -> Path:
    for defn in definitions:
        (root / defn["code"]).mkdir(parents=True, exist_ok=True)
        (root / defn["code"] / "service.yaml").write_text(
            yaml.safe_dump(defn, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return root


def account_of(household: Household) -> Account:
    account = db.session.scalar(db.select(Account).filter_by(guardian_id=household.guardians[0].id))
    assert account is not None
    return account


def upload_for(household: Household) -> str:
    """Store a small PNG for the household (as the form's file field does); returns its token."""
    upload = store_upload(household.id, FileStorage(io.BytesIO(PNG), filename="certificat.png"))
    db.session.commit()
    return upload.token


