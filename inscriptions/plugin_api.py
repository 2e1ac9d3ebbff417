"""The documented interface between the engine and a service's Python rules.

A service needing rules the definition file cannot express puts a ``hooks.py`` beside its
``service.yaml`` (or ships an installed package that declares an ``inscriptions.plugins`` entry
point named after the service code). The module implements any of the hooks below, decorated
with :data:`hookimpl`. Hooks receive plain read-only views, never database objects, and return
messages in French since they are shown to families.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pluggy

PROJECT_NAME = "inscriptions"
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

CHANNELS = ("web", "counter", "paper", "phone", "mail", "api")
ONLINE_CHANNELS = ("web", "api")


@dataclass(frozen=True)
class HouseholdView:
    """What rules may know about the household."""

    id: int | None
    quotient_familial: int | None
    is_resident: bool
    city: str
    postcode: str
    children_count: int


@dataclass(frozen=True)
class ParticipantView:
    """The person being registered: a child, or an adult for adult services."""

    kind: str  # "child" | "adult"
    id: int | None
    first_name: str
    last_name: str
    birth_date: dt.date | None
    school: str = ""
    class_name: str = ""

    def age_on(self, day: dt.date) -> int | None:
        if self.birth_date is None:
            return None
        b = self.birth_date
        return day.year - b.year - ((day.month, day.day) < (b.month, b.day))


@dataclass(frozen=True)
class Price:
    """A computed price: the amount, its unit ("repas", "trimestre"...) and how it was reached."""

    amount: Decimal
    unit: str = ""
    lines: tuple[str, ...] = field(default=())


class ServiceHooks:
    """Hook specifications. Every hook is optional."""

    @hookspec
    def check_eligibility(
        self, service: Any, household: HouseholdView, participant: ParticipantView | None, on: dt.date
    ) -> list[str]:
        """Return the reasons (French sentences) why this participant cannot register; [] if none."""

    @hookspec
    def validate_answers(
        self, service: Any, answers: Mapping[str, Any], channel: str
    ) -> Mapping[str, str]:
        """Return extra errors as ``{field name: French message}`` for already clean answers."""

    @hookspec(firstresult=True)
    def compute_price(
        self,
        service: Any,
        household: HouseholdView,
        participant: ParticipantView | None,
        answers: Mapping[str, Any],
        default: Price,
    ) -> Price | None:
        """Return a price replacing the one computed from the definition, or None to keep it."""
