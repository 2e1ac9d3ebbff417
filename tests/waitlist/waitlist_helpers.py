"""Plain helpers of the waiting-list tests (fixtures live in conftest.py)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from inscriptions.extensions import db
from inscriptions.models import Registration


def service(code: str, prefix: str, **overrides: Any) -> dict[str, Any]:
    """A small child service with sessions, open around the frozen clock."""
    data: dict[str, Any] = {
        "code": code,
        "name": f"Service {code}",
        "reference_prefix": prefix,
        "audience": "child",
        "opening": "2026-09-01T08:30:00",
        "closing": "2027-06-30T23:59:00",
        "workflow": "automatic",
        "retention_months": 12,
        "pricing": {"kind": "fixed", "amount": "10.00", "unit": "stage"},
        "sessions": [
            {"code": "s1", "label": "Stage d'octobre", "starts_at": "2026-10-01T10:00:00", "capacity": 2},
            {"code": "s2", "label": "Stage de novembre", "starts_at": "2026-11-02T10:00:00", "capacity": 3},
        ],
        "form": {"pages": [{"title": "Questions", "fields": [
            {"name": "note", "type": "text", "label": "Remarque"},
        ]}]},
    }
    data.update(copy.deepcopy(overrides))
    return data


SERVICES: dict[str, dict[str, Any]] = {
    # Offers (default mode), 48 h to answer; cancelling closes 48 h before the session.
    "stage": service("stage", "STG", cancellation={"allowed": True, "until_hours_before_start": 48}),
    # Offers, reviewed by hand: an accepted offer becomes "submitted".
    "revue": service("revue", "REV", workflow="manual", waiting_list={"mode": "offer", "offer_hours": 24}),
    # Automatic promotion (accepted).
    "auto": service("auto", "AUT", waiting_list={"mode": "automatic"}),
    # Automatic promotion, reviewed by hand (submitted).
    "autorevue": service("autorevue", "ARV", workflow="manual", waiting_list={"mode": "automatic"}),
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


def statuses(ids: list[int]) -> list[str]:
    db.session.expire_all()
    return [db.session.get(Registration, i).status for i in ids]


def stage_with_s1(**changes: Any) -> dict[str, Any]:
    """The ``stage`` definition with its first session changed (capacity, start...)."""
    data = copy.deepcopy(SERVICES["stage"])
    data["sessions"][0].update(changes)
    return data
