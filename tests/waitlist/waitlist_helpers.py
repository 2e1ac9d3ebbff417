"""Plain helpers of the waiting-list tests (fixtures live in conftest.py); the service skeleton,
``write_services`` and ``fresh`` are shared with the back-office tests (tests/service_helpers.py).
"""

from __future__ import annotations

import copy
from typing import Any

from service_helpers import fresh, small_service, write_services

from inscriptions.extensions import db
from inscriptions.models import Registration

__all__ = ["SERVICES", "fresh", "service", "stage_with_s1", "statuses", "write_services"]

FIELDS: list[dict[str, Any]] = [
    {"name": "note", "type": "text", "label": "Remarque"},
]


def service(code: str, prefix: str, **overrides: Any) -> dict[str, Any]:
    """A small child service with sessions, open around the frozen clock."""
    return small_service(code, prefix, **{"workflow": "automatic", "fields": FIELDS, **overrides})


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


def statuses(ids: list[int]) -> list[str]:
    db.session.expire_all()
    return [db.session.get(Registration, i).status for i in ids]


def stage_with_s1(**changes: Any) -> dict[str, Any]:
    """The ``stage`` definition with its first session changed (capacity, start...)."""
    data = copy.deepcopy(SERVICES["stage"])
    data["sessions"][0].update(changes)
    return data
