"""Who may register: audience, age range, residency, opening for them, then the service's own rules."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask_babel import format_date
from flask_babel import gettext as _

from inscriptions.clock import as_local_aware
from inscriptions.definitions import schema as s
from inscriptions.plugin_api import HouseholdView, ParticipantView
from inscriptions.registrations.windows import opening_problems


def age_reference_day(defn: s.ServiceDefinition) -> dt.date:
    if defn.age is not None and defn.age.on is not None:
        return defn.age.on
    return as_local_aware(defn.opening).date()


def eligibility_problems(
    defn: s.ServiceDefinition,
    hooks: Any,
    household: HouseholdView,
    participant: ParticipantView | None,
    *,
    now: dt.datetime | None = None,
) -> list[str]:
    """Reasons (French sentences) why this participant cannot register; empty when eligible.

    This includes "not open for them yet" (priority windows, read from the service's current
    definition: the town may move dates), so every page and every channel says the same.
    """
    problems: list[str] = []
    on = age_reference_day(defn)
    if defn.audience == "child" and (participant is None or participant.kind != "child"):
        problems.append(_("This service is for children only."))
    if defn.audience == "adult" and (participant is None or participant.kind != "adult"):
        problems.append(_("This service is for adults only."))
    if defn.age is not None and participant is not None:
        age = participant.age_on(on)
        if age is None or not defn.age.min <= age <= defn.age.max:
            problems.append(_(
                "%(name)s must be between %(min)s and %(max)s years old on %(day)s.",
                name=participant.first_name, min=defn.age.min, max=defn.age.max,
                day=format_date(on, "long"),
            ))
    if defn.eligibility.residents_only and not household.is_resident:
        problems.append(_("This service is for residents of the town only."))
    problems += opening_problems(_live(defn), household, participant, now)
    if hooks is not None:
        for found in hooks.hook.check_eligibility(
            service=defn, household=household, participant=participant, on=on
        ):
            problems.extend(found or [])
    return problems


def _live(defn: s.ServiceDefinition) -> s.ServiceDefinition:
    """The definition on disk for ``defn``'s service (dates follow it), else ``defn`` itself."""
    from inscriptions.definitions.registry import registry

    loaded = registry().get(defn.code)
    return loaded.definition if loaded is not None else defn
