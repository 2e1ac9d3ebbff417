"""Counts of registrations grouped by answers: the kitchen's meals per day, school and diet, and the like.

A count is described by a :class:`CountSpec`: what it groups by (answer fields with a finite set of
values, the child's school or class, the session), optionally a weekdays field to count per date
(a registration counts on each date whose weekday its answer includes, from the day it was made),
the statuses counted and whether to count registrations or the places they take. A service
declares the counts its staff use every day in its definition (``reports.counts``); a manager may
also pick the grouping on the page. The engine knows nothing of canteens: "school" and "diet" are
just keys.

Sensitive fields are never offered as a grouping to readers who may not read them: a count of
"allergy: yes" per school is still health data.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from inscriptions.clock import local_zone
from inscriptions.definitions import schema as s
from inscriptions.definitions.loader import LoadedService
from inscriptions.extensions import db
from inscriptions.forms import web
from inscriptions.models import Child, Registration, ServiceSession
from inscriptions.privacy.sealing import OpenedOnRead
from inscriptions.reports.attendance import name_key

MAX_DAYS = 62
MAX_GROUPS = 4


@dataclass(frozen=True)
class CountSpec:
    """What to count and how to group it."""

    group_by: tuple[str, ...]
    per_day: str | None = None
    statuses: tuple[str, ...] = ("accepted",)
    measure: str = "registrations"
    code: str = ""
    label: str = ""

    @classmethod
    def from_report(cls, report: s.CountReport) -> CountSpec:
        return cls(tuple(report.group_by), report.per_day, tuple(report.statuses), report.measure,
                   report.code, report.label)


@dataclass
class CountRow:
    labels: tuple[str, ...]
    values: list[int]

    @property
    def total(self) -> int:
        return sum(self.values)


@dataclass
class CountTable:
    """Rows of counts: one value per date (``per_day``) or a single value per group."""

    spec: CountSpec
    headers: list[str]
    columns: list[dt.date]
    rows: list[CountRow] = field(default_factory=list)

    @property
    def per_day(self) -> bool:
        return self.spec.per_day is not None

    @property
    def totals(self) -> list[int]:
        width = len(self.columns) if self.per_day else 1
        return [sum(row.values[i] for row in self.rows) for i in range(width)]

    @property
    def grand_total(self) -> int:
        return sum(self.totals)


def groupable_keys(defn: s.ServiceDefinition, sensitive: bool) -> list[tuple[str, str]]:
    """``(key, label)`` of everything a count of this service may be grouped by."""
    keys: list[tuple[str, str]] = []
    if defn.audience == "child":
        keys += [("child.school", _("School")), ("child.class", _("Class"))]
    if defn.sessions:
        keys.append(("session", _("Session")))
    for _page, fld in defn.iter_fields():
        if fld.type in s.GROUPABLE_TYPES and (sensitive or not fld.sensitive):
            keys.append((fld.name, fld.label))
    return keys


def day_fields(defn: s.ServiceDefinition) -> list[tuple[str, str]]:
    """``(name, label)`` of the weekdays fields a count may be spread over dates with."""
    return [(fld.name, fld.label) for _page, fld in defn.iter_fields() if isinstance(fld, s.WeekdaysField)]


def check_spec(defn: s.ServiceDefinition, spec: CountSpec, sensitive: bool) -> list[str]:
    """Why ``spec`` cannot be computed for this service (empty when it can)."""
    problems = []
    allowed = dict(groupable_keys(defn, sensitive))
    if not spec.group_by:
        problems.append(_("Choose at least one thing to group by."))
    if len(spec.group_by) > MAX_GROUPS:
        problems.append(_("Group by %(n)s things at most.", n=MAX_GROUPS))
    if any(key not in allowed for key in spec.group_by):
        problems.append(_("One of the groupings is not available."))
    if spec.per_day is not None and spec.per_day not in dict(day_fields(defn)):
        problems.append(_("This list of days is not available."))
    return problems


def dates_between(defn: s.ServiceDefinition, spec: CountSpec, start: dt.date, end: dt.date) -> list[dt.date]:
    """The dates from ``start`` to ``end`` whose weekday the ``per_day`` field offers."""
    fld = defn.field(spec.per_day) if spec.per_day else None
    offered = set(fld.days) if isinstance(fld, s.WeekdaysField) else set(s.WEEKDAYS)
    days = []
    day = start
    while day <= end and len(days) < MAX_DAYS:
        if s.WEEKDAYS[day.weekday()] in offered:
            days.append(day)
        day += dt.timedelta(days=1)
    return days


def _value_labels(defn: s.ServiceDefinition, key: str) -> dict[str, str]:
    try:
        fld = defn.field(key)
    except KeyError:
        return {}
    if isinstance(fld, s.YesNoField | s.ConsentField):
        return {"True": _("Yes"), "False": _("No")}
    return dict(web.choices_of(fld))


def _values(key: str, answers: dict[str, Any], school: str | None, class_name: str | None,
            session_label: str | None) -> list[str]:
    """The values a registration has for ``key`` (several for multiple choices), as raw strings."""
    if key == "child.school":
        raw: Any = school
    elif key == "child.class":
        raw = class_name
    elif key == "session":
        raw = session_label
    else:
        raw = answers.get(key)
    if isinstance(raw, list):
        return [str(v) for v in raw] or [""]
    if raw is None:
        return [""]
    return [str(raw)]


def compute_counts(service: LoadedService, spec: CountSpec, start: dt.date | None = None,
                   end: dt.date | None = None) -> CountTable:
    """Count the service's registrations in ``spec.statuses`` as ``spec`` says.

    With ``per_day``, ``start`` and ``end`` (local dates) bound the dates counted; a registration
    counts on a date when its weekdays answer includes the date's weekday and it was made on or
    before that date (a child registered on Wednesday eats from Thursday, not the Monday before).
    """
    defn = service.definition
    keys = dict(groupable_keys(defn, sensitive=True))
    headers = [keys.get(key, key) for key in spec.group_by]
    columns = dates_between(defn, spec, start, end) if spec.per_day and start and end else []
    table = CountTable(spec, headers, columns)
    labels = {key: _value_labels(defn, key) for key in spec.group_by}
    not_answered = _("Not answered")
    weekday_of = [s.WEEKDAYS[d.weekday()] for d in columns]
    zone = local_zone()

    query = (
        select(Registration.answers, Registration.places, Registration.created_at, Child.school,
               Child.class_name, ServiceSession.label)
        .outerjoin(Child, Child.id == Registration.child_id)
        .outerjoin(ServiceSession, ServiceSession.id == Registration.session_id)
        .where(Registration.service_code == service.code, Registration.status.in_(spec.statuses))
        .execution_options(yield_per=1000)
    )
    width = len(columns) if spec.per_day else 1
    sums: dict[tuple[str, ...], list[int]] = defaultdict(lambda: [0] * width)
    for answers, places, created_at, school, class_name, session_label in db.session.execute(query):
        # A declared count may group by a sensitive answer (the kitchen's diets): it shows totals,
        # never who; the answers it reads are opened on read.
        answers = OpenedOnRead(answers or {})
        amount = (places or 0) if spec.measure == "places" else 1
        if spec.per_day:
            chosen = set(answers.get(spec.per_day) or [])
            made = created_at.replace(tzinfo=dt.UTC).astimezone(zone).date()
            cells = [amount if wd in chosen and made <= day else 0 for wd, day in zip(weekday_of, columns, strict=True)]
            if not any(cells):
                continue
        else:
            cells = [amount]
        per_key = [
            [labels[key].get(v, v) if v else not_answered
             for v in _values(key, answers, school, class_name, session_label)]
            for key in spec.group_by
        ]
        for combination in itertools.product(*per_key):
            row = sums[combination]
            for i, value in enumerate(cells):
                row[i] += value
    table.rows = [CountRow(labels, values) for labels, values in
                  sorted(sums.items(), key=lambda item: tuple(name_key(x) for x in item[0]))]
    return table


def csv_rows(table: CountTable) -> tuple[list[str], list[list[Any]]]:
    """The table as CSV headers and rows (with a total line)."""
    if table.per_day:
        headers = table.headers + [d.strftime("%d/%m/%Y") for d in table.columns] + [_("Total")]
        rows = [list(row.labels) + row.values + [row.total] for row in table.rows]
        rows.append([_("Total")] + [""] * (len(table.headers) - 1) + table.totals + [table.grand_total])
    else:
        headers = [*table.headers, _("Number")]
        rows = [list(row.labels) + row.values for row in table.rows]
        rows.append([_("Total")] + [""] * (len(table.headers) - 1) + [table.grand_total])
    return headers, rows


def parse_spec(args: Any, defn: s.ServiceDefinition, known_statuses: Sequence[str]) -> CountSpec | None:
    """The count asked in the query string (``report`` for a declared one, else ``group``...)."""
    code = args.get("report", "")
    if code:
        report = next((r for r in defn.reports.counts if r.code == code), None)
        return CountSpec.from_report(report) if report is not None else None
    group_by = tuple(dict.fromkeys(k for k in args.getlist("group") if k))
    if not group_by:
        return None
    per_day = args.get("per_day") or None
    statuses = tuple(st for st in args.getlist("status") if st in known_statuses) or ("accepted",)
    measure = "places" if args.get("measure") == "places" else "registrations"
    return CountSpec(group_by, per_day, statuses, measure)
