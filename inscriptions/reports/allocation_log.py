"""The allocator's log of one service, for its staff: the runs, and every decision of a run in order.

It explains decisions ("why did this application wait?"), it is not a list of families: an
application is named only by its public number (``STG-D000042``), never by a person or a
household, so the page and its CSV export can be shown or sent to whoever asks how places were
given. Reasons are the same sentences the families read (:data:`inscriptions.allocation.status.REASONS`).

Everything is read from ``allocation_runs`` and ``allocation_decisions`` (what the allocator wrote
as it decided), joined to the applications for their queue numbers only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, func, select

from inscriptions.allocation.status import REASONS
from inscriptions.clock import local_zone
from inscriptions.definitions.loader import LoadedService
from inscriptions.definitions.registry import definition_for
from inscriptions.extensions import db
from inscriptions.models import AllocationDecision, AllocationRun, Application, Outcome, ServiceSession, public_number

RUNS_PER_PAGE = 25
DECISIONS_PER_PAGE = 200
# Longest period one CSV export of runs covers (a year of allocation is a few thousand rows).
MAX_DAYS = 366
# Rows read at a time when streaming an export.
BATCH = 500

# What the allocator decided for a wish, as the staff read it.
OUTCOMES: dict[str, Any] = {
    Outcome.ACCEPTED: _l("Place given"),
    Outcome.WAITLISTED: _l("Waiting list"),
    Outcome.REFUSED: _l("Wish refused"),
}


# The allocator's rules (``AllocationRun.rule``), as the staff read them.
RULES: dict[str, Any] = {
    "arrival": _l("Order of arrival"),
    "draw": _l("Draw"),
    "points": _l("Priority points, then draw"),
}


def rule_name(rule: str) -> str:
    """The run's rule in words (the code itself for a rule this version does not know)."""
    name = RULES.get(rule)
    return str(name) if name is not None else rule


def outcome_name(outcome: str) -> str:
    """The outcome in words (the code itself for an outcome this version does not know)."""
    name = OUTCOMES.get(outcome)
    return str(name) if name is not None else outcome


def reason_text(reason: str) -> str:
    """The reason in words, as the family reads it (the code for an unknown reason)."""
    text = REASONS.get(reason)
    return str(text) if text is not None else reason


@dataclass(frozen=True)
class RunSummary:
    """One run of the service's allocator, with what it decided per outcome."""

    run: AllocationRun
    outcomes: dict[str, int]


@dataclass(frozen=True)
class DecisionRow:
    """One decision as the log shows it (no names: the application's public number only)."""

    run_id: int
    run_started_at: dt.datetime
    position: int
    public_id: str
    wish: int
    session_code: str | None
    session_label: str
    rank: int | None
    outcome: str
    outcome_label: str
    reason: str
    reason_text: str
    places: int
    free_before: int | None
    # ``allocation: draw``: the application's rank in the draw (None: sent after it, or no draw).
    draw_rank: int | None = None
    # ``allocation: points``: the application's points at the ranking.
    points: int | None = None

    def cells(self) -> list[Any]:
        """The row's cells for the CSV export, in :func:`csv_headers` order."""
        return [self.run_id, _local(self.run_started_at), self.position, self.public_id, self.points, self.draw_rank,
                self.wish,
                self.session_label, self.rank, self.outcome_label, self.reason_text, self.places,
                self.free_before]


def csv_headers() -> list[str]:
    """The columns of the CSV export."""
    return [_("Run"), _("Run started on"), _("Position in the run"), _("Application"), _("Points"), _("Drawn rank"),
            _("Wish"),
            _("Session"), _("Rank in the wish"), _("Outcome"), _("Reason"), _("Places"),
            _("Places free before")]


def _local(value: dt.datetime) -> dt.datetime:
    # The database keeps naive UTC; staff read the town's local time.
    return value.replace(tzinfo=dt.UTC).astimezone(local_zone()).replace(tzinfo=None)


def utc_bounds(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The naive UTC instants of the town's local days ``start`` to ``end`` (end excluded: the next day)."""
    zone = local_zone()
    first = dt.datetime.combine(start, dt.time(), zone).astimezone(dt.UTC).replace(tzinfo=None)
    after = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), zone).astimezone(dt.UTC).replace(tzinfo=None)
    return first, after


def _runs_query(service_code: str, period: tuple[dt.date, dt.date] | None) -> Select[Any]:
    query = select(AllocationRun).where(AllocationRun.service_code == service_code)
    if period is not None:
        first, after = utc_bounds(*period)
        query = query.where(AllocationRun.started_at >= first, AllocationRun.started_at < after)
    return query


def runs_page(service_code: str, page: int, period: tuple[dt.date, dt.date] | None = None
              ) -> tuple[list[RunSummary], int]:
    """A page of the service's runs, most recent first, and how many runs there are in all."""
    query = _runs_query(service_code, period)
    total = int(db.session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    runs = list(db.session.scalars(
        query.order_by(AllocationRun.started_at.desc(), AllocationRun.id.desc())
        .offset((page - 1) * RUNS_PER_PAGE).limit(RUNS_PER_PAGE)
    ))
    outcomes: dict[int, dict[str, int]] = {run.id: {} for run in runs}
    if runs:
        for run_id, outcome, count in db.session.execute(
            select(AllocationDecision.run_id, AllocationDecision.outcome, func.count(AllocationDecision.id))
            .where(AllocationDecision.run_id.in_(list(outcomes)))
            .group_by(AllocationDecision.run_id, AllocationDecision.outcome)
        ):
            outcomes[run_id][outcome] = int(count)
    return [RunSummary(run, outcomes[run.id]) for run in runs], total


def run_of(service_code: str, run_id: int) -> AllocationRun | None:
    """The run ``run_id`` if it is one of this service's (None otherwise: another service's is not shown)."""
    run = db.session.get(AllocationRun, run_id)
    return run if run is not None and run.service_code == service_code else None


def _decisions_query(service_code: str) -> Select[Any]:
    return (
        select(
            AllocationDecision.run_id, AllocationRun.started_at, AllocationDecision.position,
            Application.queue_number, Application.draw_rank, Application.points, Application.form_version_id,
            AllocationDecision.wish,
            AllocationDecision.session_code, AllocationDecision.rank, AllocationDecision.outcome,
            AllocationDecision.reason, AllocationDecision.places, AllocationDecision.free_before,
        )
        .join(AllocationRun, AllocationRun.id == AllocationDecision.run_id)
        .join(Application, Application.id == AllocationDecision.application_id)
        .where(AllocationRun.service_code == service_code)
    )


def count_decisions(service_code: str, *, run_id: int | None = None,
                    period: tuple[dt.date, dt.date] | None = None) -> int:
    """How many decisions one run (or the runs started in ``period``) made."""
    query = _filtered(_decisions_query(service_code), run_id, period)
    return int(db.session.scalar(select(func.count()).select_from(query.subquery())) or 0)


def _filtered(query: Select[Any], run_id: int | None, period: tuple[dt.date, dt.date] | None) -> Select[Any]:
    if run_id is not None:
        query = query.where(AllocationDecision.run_id == run_id)
    if period is not None:
        first, after = utc_bounds(*period)
        query = query.where(AllocationRun.started_at >= first, AllocationRun.started_at < after)
    return query


def decisions(service: LoadedService, *, run_id: int | None = None, period: tuple[dt.date, dt.date] | None = None,
              offset: int = 0, limit: int | None = None) -> Iterator[DecisionRow]:
    """The decisions of one run, or of the runs started in ``period`` (oldest run first), each run's
    in the order it made them (position, then wish). Streamed :data:`BATCH` rows at a time."""
    query = (
        _filtered(_decisions_query(service.code), run_id, period)
        .order_by(AllocationRun.started_at, AllocationRun.id, AllocationDecision.position,
                  AllocationDecision.wish, AllocationDecision.id)
        .offset(offset)
        .execution_options(yield_per=BATCH)
    )
    if limit is not None:
        query = query.limit(limit)
    labels = session_labels(service)
    prefixes: dict[int, str] = {}
    # Word lookups once per export, not once per row.
    outcome_words: dict[str, str] = {}
    reason_words: dict[str, str] = {}
    for row in db.session.execute(query):
        prefix = prefixes.get(row.form_version_id)
        if prefix is None:
            # The prefix of the form the family applied under: the number they were given.
            prefix = prefixes[row.form_version_id] = definition_for(row.form_version_id).reference_prefix
        if row.outcome not in outcome_words:
            outcome_words[row.outcome] = outcome_name(row.outcome)
        if row.reason not in reason_words:
            reason_words[row.reason] = reason_text(row.reason)
        yield DecisionRow(
            run_id=row.run_id, run_started_at=row.started_at, position=row.position,
            # Application.public_id's format, from the columns (no application object per row).
            public_id=public_number(prefix, row.queue_number) if row.queue_number is not None else "",
            wish=row.wish, session_code=row.session_code,
            session_label=labels.get(row.session_code, row.session_code) if row.session_code else "",
            rank=row.rank, outcome=row.outcome, outcome_label=outcome_words[row.outcome], reason=row.reason,
            reason_text=reason_words[row.reason], places=row.places, free_before=row.free_before,
            draw_rank=row.draw_rank, points=row.points,
        )


def session_labels(service: LoadedService) -> dict[str, str]:
    """Session code -> label: the definition's, or the stored one for a session since removed."""
    labels: dict[str, str] = {code: label for code, label in db.session.execute(
        select(ServiceSession.code, ServiceSession.label).where(ServiceSession.service_code == service.code)
    )}
    labels.update({s.code: s.label for s in service.definition.sessions})
    return labels
