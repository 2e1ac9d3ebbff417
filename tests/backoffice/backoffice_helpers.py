"""Plain helpers of the back-office tests (fixtures live in conftest.py); the service skeleton,
``write_services`` and ``fresh`` are shared with the waiting-list tests (tests/service_helpers.py).
"""

from __future__ import annotations

import re
from typing import Any

from service_helpers import fresh, small_service, write_services

__all__ = ["SERVICES", "WORKFLOW", "fresh", "queue_references", "service", "write_services"]

FIELDS: list[dict[str, Any]] = [
    {"name": "level", "type": "single_choice", "label": "Niveau", "required": True,
     "choices": [{"value": "debutant", "label": "Débutant"}, {"value": "confirme", "label": "Confirmé"}]},
    {"name": "health", "type": "text", "label": "Santé", "sensitive": True},
    {"name": "first_time", "type": "yes_no", "label": "Première inscription ?"},
]


def service(code: str, prefix: str, **overrides: Any) -> dict[str, Any]:
    """A small child service reviewed by hand, with two sessions, open around the frozen clock."""
    return small_service(code, prefix, **{"workflow": "manual", "fields": FIELDS, **overrides})


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


def queue_references(html: str) -> list[str]:
    """The references listed in the queue's table, in order."""
    return re.findall(r'<tr data-reference="([A-Z]+-\d{4}-\d+)"', html)
