"""The figures of a service's dashboard: registrations per day, fill of each session, channel mix.

Everything is counted from the registration rows (never from a counter that could drift), in a
handful of grouped queries; days are the town's local days.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from inscriptions.clock import local_zone, now
from inscriptions.counter.forms import COUNTER_CHANNELS
from inscriptions.definitions.loader import LoadedService
from inscriptions.extensions import db
from inscriptions.models import Registration, ServiceSession, Status
from inscriptions.plugin_api import CHANNELS
from inscriptions.registrations.status import extra_status_label, holding_statuses

DAYS = 30
CHANNEL_LABELS: dict[str, Any] = {"web": _l("Online"), **COUNTER_CHANNELS, "api": _l("API")}
# Staff-facing, short names of the engine's statuses (the families' wording is a sentence).
STATUS_NAMES: dict[str, Any] = {
    Status.SUBMITTED: _l("Submitted"),
    Status.ACCEPTED: _l("Accepted"),
    Status.WAITLISTED: _l("Waiting list"),
    Status.OFFERED: _l("Offered"),
    Status.REJECTED: _l("Rejected"),
    Status.CANCELLED: _l("Cancelled"),
}


def status_name(status: str, service_code: str) -> str:
    """A status as the staff read it: the short name, or the label the service gives its own status."""
    name = STATUS_NAMES.get(status)
    if name is not None:
        return str(name)
    return extra_status_label(status, service_code) or status


@dataclass(frozen=True)
class SessionFill:
    code: str
    label: str
    capacity: int
    held: int
    accepted: int
    waiting: int

    @property
    def rate(self) -> float:
        """Places held over capacity (1.0 is full)."""
        return self.held / self.capacity if self.capacity else 0.0

    @property
    def percent(self) -> int:
        return round(self.rate * 100)


@dataclass
class Dashboard:
    per_day: list[tuple[dt.date, int]]
    sessions: list[SessionFill]
    channels: list[tuple[str, str, int]]
    statuses: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.statuses.values())


def today() -> dt.date:
    return now().astimezone(local_zone()).date()


def registrations_per_day(service_code: str, last_day: dt.date, days: int = DAYS) -> list[tuple[dt.date, int]]:
    """Registrations made on each local day of the ``days`` days ending ``last_day`` (all statuses)."""
    first = last_day - dt.timedelta(days=days - 1)
    zone = local_zone()
    start = dt.datetime.combine(first, dt.time(), zone).astimezone(dt.UTC).replace(tzinfo=None)
    end = dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time(), zone).astimezone(dt.UTC).replace(tzinfo=None)
    counts: Counter[dt.date] = Counter()
    # Bucketing by local day is done here: SQLite and PostgreSQL disagree on time zone functions.
    rows = db.session.scalars(
        select(Registration.created_at)
        .where(Registration.service_code == service_code, Registration.created_at >= start,
               Registration.created_at < end)
        .execution_options(yield_per=2000)
    )
    for created in rows:
        counts[created.replace(tzinfo=dt.UTC).astimezone(zone).date()] += 1
    return [(first + dt.timedelta(days=i), counts[first + dt.timedelta(days=i)]) for i in range(days)]


def session_fill(service: LoadedService) -> list[SessionFill]:
    """Each session of the definition with places held, accepted registrations and waiting entries."""
    held = func.coalesce(func.sum(Registration.places).filter(Registration.status.in_(holding_statuses())), 0)
    accepted = func.count(Registration.id).filter(Registration.status == Status.ACCEPTED)
    waiting = func.count(Registration.id).filter(Registration.status == Status.WAITLISTED)
    figures = {
        code: (int(h or 0), int(a or 0), int(w or 0))
        for code, h, a, w in db.session.execute(
            select(ServiceSession.code, held, accepted, waiting)
            .join(Registration, Registration.session_id == ServiceSession.id)
            .where(ServiceSession.service_code == service.code)
            .group_by(ServiceSession.code)
        )
    }
    fills = []
    for sess in service.definition.sessions:
        h, a, w = figures.get(sess.code, (0, 0, 0))
        fills.append(SessionFill(sess.code, sess.label, sess.capacity, h, a, w))
    return fills


def channel_mix(service_code: str) -> list[tuple[str, str, int]]:
    """``(channel, label, registrations)`` for every channel, those never used included."""
    counts = dict(db.session.execute(
        select(Registration.channel, func.count(Registration.id))
        .where(Registration.service_code == service_code)
        .group_by(Registration.channel)
    ).all())
    return [(ch, str(CHANNEL_LABELS.get(ch, ch)), int(counts.get(ch, 0))) for ch in CHANNELS]


def status_counts(service_code: str) -> dict[str, int]:
    return {status: int(n) for status, n in db.session.execute(
        select(Registration.status, func.count(Registration.id))
        .where(Registration.service_code == service_code)
        .group_by(Registration.status)
    )}


def dashboard(service: LoadedService, last_day: dt.date | None = None) -> Dashboard:
    """All the dashboard's figures for ``service``."""
    return Dashboard(
        per_day=registrations_per_day(service.code, last_day or today()),
        sessions=session_fill(service),
        channels=channel_mix(service.code),
        statuses=status_counts(service.code),
    )
