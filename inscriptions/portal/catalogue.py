"""What the portal says about a service: open or not, who it is for, prices, places left."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from flask import has_request_context
from flask_babel import format_date, format_decimal, format_time
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select

from inscriptions import clock
from inscriptions.definitions import schema as s
from inscriptions.definitions.loader import LoadedService
from inscriptions.definitions.registry import current_version
from inscriptions.eligibility import age_reference_day
from inscriptions.extensions import db
from inscriptions.models import Household, Registration, ServiceSession, Status
from inscriptions.plugin_api import ParticipantView
from inscriptions.pricing import euros
from inscriptions.registrations.participants import adult_view, child_view, household_view
from inscriptions.registrations.status import holding_statuses
from inscriptions.registrations.windows import general_opening, household_opening, moment_text


@dataclass(frozen=True)
class Window:
    """Whether a service takes registrations now, in words."""

    state: str  # "upcoming" | "open" | "closed"
    text: str
    # Priority windows in words ("Résidents: from 1 June 2026 at 08:30"), for the service page.
    schedule: tuple[str, ...] = ()

    @property
    def is_open(self) -> bool:
        return self.state == "open"


def when(value: dt.datetime) -> str:
    """``1 juin 2026 à 08:30`` style date and time, in the town's time zone."""
    return moment_text(value)


def stamp(value: dt.datetime) -> str:
    """A moment stored in the database (naive UTC) as ``15 septembre 2026 à 10:00``, local time."""
    aware = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value
    return _("%(date)s at %(time)s", date=format_date(aware, "long"), time=format_time(aware, "short"))


def window(defn: s.ServiceDefinition, household: Household | None = None) -> Window:
    """Open, upcoming or closed; with priority windows, for ``household`` (default: the logged-in
    family's) when known: "Registration opens for you on ...". The booking checks the same rules."""
    now = clock.now()
    closing = clock.as_local_aware(defn.closing)
    schedule = tuple(
        _("%(label)s: from %(when)s", label=w.label, when=when(w.opens_at))
        for w in sorted(defn.priority_windows, key=lambda w: w.opens_at)
    )
    if now > closing:
        return Window("closed", _("Registration closed on %(when)s.", when=when(defn.closing)), schedule)
    open_text = _("Registration is open until %(when)s.", when=when(defn.closing))
    if defn.priority_windows:
        household = household if household is not None else _logged_in_household()
        if household is not None:
            opens = household_opening(defn, household_view(household), _participants(defn, household))
            if opens is None:
                return Window("closed", _("Registration for this service is not open to your household."), schedule)
            if now < opens:
                return Window("upcoming", _("Registration opens for you on %(when)s.", when=when(opens)), schedule)
            return Window("open", open_text, schedule)
    opening = general_opening(defn)
    if now < opening:
        return Window("upcoming", _("Registration opens on %(when)s.", when=when(opening)), schedule)
    return Window("open", open_text, schedule)


def _logged_in_household() -> Household | None:
    if not has_request_context() or not current_user.is_authenticated:
        return None
    # Staff accounts have no household.
    return getattr(current_user, "household", None)


def _participants(defn: s.ServiceDefinition, household: Household) -> list[ParticipantView | None]:
    """Whom the household could register; an empty family is judged as a household."""
    if defn.audience == "child" and household.children:
        return [child_view(c) for c in household.children]
    if defn.audience == "adult" and household.guardians:
        return [adult_view(g) for g in household.guardians]
    return [None]


def audience_text(defn: s.ServiceDefinition) -> str:
    if defn.audience == "child":
        text = _("For children.")
    elif defn.audience == "adult":
        text = _("For adults.")
    else:
        text = _("One registration for the whole household.")
    if defn.age is not None:
        text += " " + _(
            "From %(min)s to %(max)s years old (age on %(day)s).",
            min=defn.age.min, max=defn.age.max, day=format_date(age_reference_day(defn), "long"),
        )
    return text


@dataclass(frozen=True)
class PriceRow:
    label: str
    price: str


@dataclass(frozen=True)
class PriceGrid:
    """Prices as a short sentence and, for grids, rows of a table."""

    summary: str
    rows: tuple[PriceRow, ...] = ()
    row_heading: str = ""
    note: str = ""


def per_unit(amount: Decimal, unit: str) -> str:
    """``2,40 € per meal`` when the service gives a unit, else ``2,40 €``."""
    return _("%(amount)s per %(unit)s", amount=euros(amount), unit=unit) if unit else euros(amount)


def price_grid(defn: s.ServiceDefinition) -> PriceGrid:
    pricing = defn.pricing
    if isinstance(pricing, s.FreePricing):
        return PriceGrid(_("Free."))
    if isinstance(pricing, s.FixedPricing):
        return PriceGrid(_("Price: %(price)s.", price=per_unit(pricing.amount, pricing.unit)))
    if isinstance(pricing, s.BracketPricing):
        rows = []
        lower = 0
        for bracket in pricing.brackets:
            if bracket.max_qf is None:
                label = _("%(min)s and more", min=lower)
            else:
                label = _("From %(min)s to %(max)s", min=lower, max=bracket.max_qf)
                lower = bracket.max_qf + 1
            rows.append(PriceRow(label, per_unit(bracket.price, pricing.unit)))
        without = pricing.without_qf if pricing.without_qf is not None else max(b.price for b in pricing.brackets)
        return PriceGrid(
            _("The price depends on your quotient familial (QF)."),
            tuple(rows),
            row_heading=_("Quotient familial"),
            note=_("Without a known quotient familial: %(price)s. Give your QF in your household page.",
                   price=per_unit(without, pricing.unit)),
        )
    if isinstance(pricing, s.EffortRatePricing):
        return PriceGrid(
            _("%(rate)s%% of your quotient familial, at least %(min)s and at most %(max)s.",
              rate=format_decimal(pricing.rate_percent), min=per_unit(pricing.min, pricing.unit),
              max=per_unit(pricing.max, pricing.unit)),
            note=_("Without a known quotient familial: %(price)s. Give your QF in your household page.",
                   price=per_unit(pricing.max, pricing.unit)),
        )
    if isinstance(pricing, s.TariffPricing):
        rows = tuple(PriceRow(item.label, euros(item.price)) for item in pricing.items)
        return PriceGrid(_("The price depends on what you book."), rows, row_heading=_("Item"))
    return PriceGrid("")  # pragma: no cover - schema forbids other kinds


@dataclass(frozen=True)
class SessionInfo:
    """A session as families see it: when, how many places are left, whether it can be chosen."""

    code: str
    label: str
    starts_at: dt.datetime  # aware
    capacity: int
    left: int
    started: bool

    @property
    def full(self) -> bool:
        return self.left <= 0

    @property
    def places_text(self) -> str:
        if self.started:
            return _("Already started: registration is closed.")
        if self.full:
            return _("Full: you can join the waiting list.")
        if self.left == 1:
            return _("1 place left.")
        return _("%(n)s places left.", n=self.left)


def sessions_of(service: LoadedService) -> list[SessionInfo]:
    """The service's sessions with places left (capacity minus places held)."""
    defn = service.definition
    if not defn.sessions:
        return []
    # Makes sure the session rows follow the definition on disk (written once per new version).
    current_version(service)
    db.session.commit()
    rows = {
        row.code: row
        for row in db.session.scalars(select(ServiceSession).filter_by(service_code=service.code))
    }
    held = dict(
        db.session.execute(
            select(Registration.session_id, func.coalesce(func.sum(Registration.places), 0))
            .where(Registration.service_code == service.code, Registration.status.in_(holding_statuses()))
            .group_by(Registration.session_id)
        ).all()
    )
    # Places that look free while people wait are theirs (offers come next): newcomers queue.
    queued = set(db.session.scalars(
        select(Registration.session_id).distinct()
        .where(Registration.service_code == service.code, Registration.status == Status.WAITLISTED)
    ))
    now = clock.now()
    infos = []
    for sess in defn.sessions:
        row = rows.get(sess.code)
        taken = int(held.get(row.id, 0)) if row is not None else 0
        left = 0 if row is not None and row.id in queued else max(sess.capacity - taken, 0)
        starts = clock.as_local_aware(sess.starts_at)
        infos.append(SessionInfo(sess.code, sess.label, starts, sess.capacity, left, starts <= now))
    return infos
