"""Plain helpers of the API tests (fixtures live in conftest.py)."""

from __future__ import annotations

from typing import Any

CANTEEN_ANSWERS: dict[str, Any] = {"days": ["mon", "tue"], "diet": "standard", "allergy": "non", "rules": "on"}


def atelier_definition(capacity: int = 2, workflow: str = "automatic", **extra: Any) -> dict[str, Any]:
    """A small child service with two sessions (the first of ``capacity`` places), open at the frozen clock."""
    return {
        "code": "atelier",
        "name": "Atelier poterie",
        "reference_prefix": "ATL",
        "audience": "child",
        "opening": "2026-09-01T08:30:00",
        "closing": "2027-06-30T23:59:00",
        "workflow": workflow,
        "retention_months": 12,
        "pricing": {"kind": "fixed", "amount": "10.00", "unit": "séance"},
        "sessions": [
            {"code": "mercredi", "label": "Mercredi 14 h", "starts_at": "2026-10-07T14:00:00",
             "capacity": capacity},
            {"code": "samedi", "label": "Samedi 10 h", "starts_at": "2026-10-10T10:00:00", "capacity": 5},
        ],
        "form": {"pages": [{"title": "Questions", "fields": [
            {"name": "level", "type": "single_choice", "label": "Niveau", "required": True,
             "choices": [{"value": "a", "label": "A"}, {"value": "b", "label": "B"}]},
        ]}]},
        **extra,
    }
