"""Ciné-goûter rules that the definition file cannot express.

This module is the example of the Python plugin interface (see ``inscriptions/plugin_api.py``):
the engine finds ``hooks.py`` beside ``service.yaml`` and calls the functions marked with
``hookimpl``. Hooks receive plain values (clean answers, read-only views), never Flask or
database objects, and return messages in French because families read them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from inscriptions.plugin_api import hookimpl

SEAT_FIELDS = ("child_seats", "adult_seats")
MIN_SEATS = 1
MAX_SEATS = 6


@hookimpl
def validate_answers(service: Any, answers: Mapping[str, Any], channel: str) -> dict[str, str]:
    """Between 1 and 6 seats in total per booking, children and adults together."""
    given = [name for name in SEAT_FIELDS if name in answers]
    if not given:
        # A form checked page by page may not have reached the seat counts yet.
        return {}
    total = sum(int(answers[name] or 0) for name in given)
    if total < MIN_SEATS:
        return {"child_seats": "Réservez au moins une place, enfant ou adulte."}
    if total > MAX_SEATS:
        return {
            "child_seats": f"Vous pouvez réserver {MAX_SEATS} places au plus par famille "
            f"(enfants et adultes ensemble) ; vous en demandez {total}."
        }
    return {}
