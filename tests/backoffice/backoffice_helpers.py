"""Plain helpers of the back-office tests (fixtures live in conftest.py)."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml

from inscriptions.extensions import db
from inscriptions.models import Registration


def service(code: str, prefix: str, **overrides: Any) -> dict[str, Any]:
    """A small child service reviewed by hand, with two sessions, open around the frozen clock."""
    data: dict[str, Any] = {
        "code": code,
        "name": f"Service {code}",
        "reference_prefix": prefix,
        "audience": "child",
        "opening": "2026-09-01T08:30:00",
        "closing": "2027-06-30T23:59:00",
        "workflow": "manual",
        "retention_months": 12,
        "pricing": {"kind": "fixed", "amount": "10.00", "unit": "stage"},
        "sessions": [
            {"code": "s1", "label": "Stage d'octobre", "starts_at": "2026-10-01T10:00:00", "capacity": 2},
            {"code": "s2", "label": "Stage de novembre", "starts_at": "2026-11-02T10:00:00", "capacity": 3},
        ],
        "form": {"pages": [{"title": "Questions", "fields": [
            {"name": "level", "type": "single_choice", "label": "Niveau", "required": True,
             "choices": [{"value": "debutant", "label": "Débutant"}, {"value": "confirme", "label": "Confirmé"}]},
            {"name": "health", "type": "text", "label": "Santé", "sensitive": True},
            {"name": "first_time", "type": "yes_no", "label": "Première inscription ?"},
        ]}]},
    }
    data.update(copy.deepcopy(overrides))
    return data


WORKFLOW = {
    "mode": "manual",
    "statuses": [{"code": "pending_documents", "label": "En attente de pièces", "holds_place": True}],
    "transitions": [
        {"from": "submitted", "to": ["accepted", "rejected", "waitlisted", "pending_documents"],
         "roles": ["agent", "manager"]},
        {"from": "pending_documents", "to": ["accepted", "rejected"], "roles": ["manager"]},
        {"from": "waitlisted", "to": ["accepted", "rejected"], "roles": ["agent", "manager"]},
        {"from": "accepted", "to": ["cancelled"], "roles": ["manager"]},
    ],
    "automatic": [{"from": "pending_documents", "to": "cancelled", "after_days": 7}],
    "queue_filters": ["level", "first_time"],
}

SERVICES: dict[str, dict[str, Any]] = {
    # A configured workflow: an extra status, moves per role, a timed move.
    "revue": service("revue", "REV", workflow=WORKFLOW),
    # No workflow section: the engine's moves, for agents and managers.
    "autre": service("autre", "AUT"),
}


def write_services(root: Path, services: dict[str, dict[str, Any]]) -> Path:
    for code, data in services.items():
        (root / code).mkdir(parents=True, exist_ok=True)
        (root / code / "service.yaml").write_text(
            yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8"
        )
    return root


def fresh(registration_id: int) -> Registration:
    """The registration as the database has it now."""
    db.session.expire_all()
    reg = db.session.get(Registration, registration_id)
    assert reg is not None
    return reg


def queue_references(html: str) -> list[str]:
    """The references listed in the queue's table, in order."""
    return re.findall(r'<tr data-reference="([A-Z]+-\d{4}-\d+)"', html)
