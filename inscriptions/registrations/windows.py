"""When registration opens for whom: the general opening, and priority windows.

A service without ``priority_windows`` opens for everyone at ``opening``. With windows, a
participant may register from the earliest window that admits them (residents, children already
enrolled, everyone); a participant no window admits cannot register at all. The check made when
booking (through :func:`inscriptions.eligibility.eligibility_problems`) and what the portal shows
both come from here. Dates are always the service's CURRENT definition (a town may move them).
"""

from __future__ import annotations

import datetime as dt

from flask_babel import format_date, format_time
from flask_babel import gettext as _
from sqlalchemy import exists, select

from inscriptions import clock
from inscriptions.definitions import schema as s
from inscriptions.extensions import db
from inscriptions.models import Registration, Status, StatusChange
from inscriptions.plugin_api import HouseholdView, ParticipantView

# Cheap checks first: an 'already_enrolled' window costs a query.
_COST = {"everyone": 0, "residents": 0, "already_enrolled": 1}


def moment_text(value: dt.datetime) -> str:
    """``15 juin 2026 à 08:30``: a definition's date-time in words, in the town's time zone."""
    aware = clock.as_local_aware(value)
    return _("%(date)s at %(time)s", date=format_date(aware, "long"), time=format_time(aware, "short"))


def general_opening(defn: s.ServiceDefinition) -> dt.datetime:
    """The first moment anyone may register (aware)."""
    if defn.priority_windows:
        return clock.as_local_aware(min(w.opens_at for w in defn.priority_windows))
    return clock.as_local_aware(defn.opening)


def has_been_enrolled(defn: s.ServiceDefinition, household: HouseholdView, participant: ParticipantView | None) -> bool:
    """Whether this participant has or had an accepted registration in this service (any version)
    or in one of the services listed in ``enrolled_in``; for household services, the household."""
    if participant is not None and participant.id is None:
        return False
    codes = [defn.code, *defn.enrolled_in]
    who = (
        Registration.child_id == participant.id if participant is not None and participant.kind == "child"
        else Registration.guardian_id == participant.id if participant is not None
        else Registration.household_id == household.id
    )
    # "Had": the history keeps an acceptance even after a cancellation or the end of the year.
    query = select(
        exists().where(
            Registration.service_code.in_(codes),
            who,
            StatusChange.registration_id == Registration.id,
            StatusChange.to_status == Status.ACCEPTED,
        )
    )
    return bool(db.session.scalar(query))


def opening_for(
    defn: s.ServiceDefinition, household: HouseholdView, participant: ParticipantView | None
) -> dt.datetime | None:
    """When registration opens for this participant (aware), or None when no window admits them."""
    if not defn.priority_windows:
        return clock.as_local_aware(defn.opening)
    for window in sorted(defn.priority_windows, key=lambda w: (w.opens_at, _COST[w.who])):
        if window.who == "everyone":
            return clock.as_local_aware(window.opens_at)
        if window.who == "residents" and household.is_resident:
            return clock.as_local_aware(window.opens_at)
        if window.who == "already_enrolled" and has_been_enrolled(defn, household, participant):
            return clock.as_local_aware(window.opens_at)
    return None


def opening_problems(
    defn: s.ServiceDefinition,
    household: HouseholdView,
    participant: ParticipantView | None,
    now: dt.datetime | None = None,
) -> list[str]:
    """Why this participant cannot register yet (a sentence giving the date), or never."""
    now = now or clock.now()
    opens = opening_for(defn, household, participant)
    if opens is None:
        labels = ", ".join(w.label for w in sorted(defn.priority_windows, key=lambda w: w.opens_at))
        if participant is None:
            return [_("Registration for this service is only open to: %(who)s.", who=labels)]
        return [_("Registration for this service is not open to %(name)s (only to: %(who)s).",
                  name=participant.first_name, who=labels)]
    if now < opens:
        return [_not_yet(opens, participant)]
    return []


def _not_yet(opens: dt.datetime, participant: ParticipantView | None) -> str:
    if participant is None:
        return _("Registration opens for you on %(when)s.", when=moment_text(opens))
    return _("Registration opens for %(name)s on %(when)s.", name=participant.first_name, when=moment_text(opens))


def household_opening(
    defn: s.ServiceDefinition, household: HouseholdView, participants: list[ParticipantView | None]
) -> dt.datetime | None:
    """When the household can first register someone (earliest of its participants), or None."""
    openings = [o for o in (opening_for(defn, household, p) for p in participants) if o is not None]
    return min(openings) if openings else None
