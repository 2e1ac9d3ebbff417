"""Reports of one service for its staff, under ``/gestion/<service_code>/rapports``.

Who may see what is decided by two permissions (:mod:`inscriptions.permissions`): ``read_reports``
(dashboard, counts, attendance lists, the allocator's log: agents, managers of the service,
administrators) and ``export_registrations`` (CSV/XLSX exports: managers of the service,
administrators). Anonymous visitors are sent to the log-in page; signed-in accounts without the
permission get a 403; an unknown service, session or allocation run is a 404. Every export (counts
and the allocation log included) and every attendance list printed is written to the audit log
(who, what, which filters, how many rows). Everything is a GET: nothing here changes data but the
audit log, and the pages work without JavaScript.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint, Response, abort, render_template, request, send_file, stream_with_context, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from inscriptions.allocation import explain
from inscriptions.allocation.allocator import trial
from inscriptions.allocation.draw import new_seed
from inscriptions.audit import Action, log_read
from inscriptions.boundary import filter_day
from inscriptions.definitions.loader import LoadedService
from inscriptions.definitions.registry import current_version, registry
from inscriptions.digits import MAX_PAGE
from inscriptions.extensions import db
from inscriptions.models import Registration, ServiceSession, Status
from inscriptions.permissions import can
from inscriptions.reports import allocation_log, attendance, charts, counts, exports
from inscriptions.reports.dashboard import dashboard as dashboard_figures
from inscriptions.reports.dashboard import status_name, today

# Lines of a trial ranking shown on its page (the counts cover them all).
TRIAL_SHOWN = 500

bp = Blueprint("reports", __name__, url_prefix="/gestion/<service_code>/rapports")

F = TypeVar("F", bound=Callable[..., Any])
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def requires(permission: str) -> Callable[[F], F]:
    """Log-in required, then ``permission`` for the service in the URL (404 for an unknown service).

    The view receives the :class:`LoadedService` as ``service`` instead of ``service_code``.
    """

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(service_code: str, **kwargs: Any) -> Any:
            service = registry().get(service_code)
            if service is None:
                abort(404)
            if not can(current_user, permission, service.code):
                abort(403)
            return view(service=service, **kwargs)

        return login_required(wrapped)  # type: ignore[return-value]

    return decorator


@bp.app_template_global("may_read_reports")
def may_read_reports(service_code: str) -> bool:
    """For the back office's navigation: whether the current account may open this service's reports."""
    return bool(current_user.is_authenticated) and can(current_user, "read_reports", service_code)


def _session(service: LoadedService, code: str | None) -> ServiceSession | None:
    """The session ``code`` of the service (None when no code); 404 when it does not exist."""
    if not code:
        return None
    if service.definition.session(code) is None:
        abort(404)
    query = select(ServiceSession).filter_by(service_code=service.code, code=code)
    row = db.session.scalar(query)
    if row is None:
        # A session of the definition not yet written to the database (no booking since start-up).
        current_version(service)
        db.session.commit()
        row = db.session.scalar(query)
    if row is None:  # pragma: no cover - current_version writes every session of the definition
        abort(404)
    return row


def _statuses(service: LoadedService) -> list[tuple[str, str]]:
    """``(status, label)``: the engine's statuses, then any other status the service's rows have."""
    codes = [str(s) for s in Status]
    codes += sorted(set(db.session.scalars(
        select(Registration.status).distinct().where(Registration.service_code == service.code)
    )) - set(codes))
    return [(code, status_name(code, service.code)) for code in codes]


def _no_store(response: Response) -> Response:
    # Files of personal data: never kept by a shared browser cache or a proxy.
    response.headers["Cache-Control"] = "no-store"
    return response


# -- dashboard -------------------------------------------------------------------------------------

@bp.get("")
@requires("read_reports")
def dashboard(service: LoadedService) -> str:
    figures = dashboard_figures(service)
    per_day = charts.column_chart([(d.strftime("%d/%m"), n) for d, n in figures.per_day])
    # Each bar is its session's own fill rate (a full bar: every place held).
    fill = charts.bar_chart(
        [(f.label, f.rate, f"{f.percent} %") for f in figures.sessions], scale=1.0
    ) if figures.sessions else None
    channels = charts.bar_chart([(label, n, str(n)) for _code, label, n in figures.channels])
    return render_template(
        "reports/dashboard.html",
        service=service,
        figures=figures,
        per_day_chart=per_day,
        fill_chart=fill,
        channel_chart=channels,
        statuses=_statuses(service),
        status_counts=figures.statuses,
        may_export=can(current_user, "export_registrations", service.code),
        sensitive=can(current_user, "read_sensitive_answers", service.code),
        declared=service.definition.reports.counts,
    )


# -- exports ---------------------------------------------------------------------------------------

def _export_filter(service: LoadedService) -> exports.ExportFilter:
    session = _session(service, request.args.get("session"))
    known = {code for code, _label in _statuses(service)}
    asked = tuple(dict.fromkeys(st for st in request.args.getlist("status") if st))
    if any(st not in known for st in asked):
        abort(400)
    return exports.ExportFilter(service.code, session, asked)


def _filename(service: LoadedService, filters: exports.ExportFilter, suffix: str) -> str:
    part = filters.session.code if filters.session is not None else "toutes-seances"
    return f"{service.code}-{part}-{today().isoformat()}.{suffix}"


def _log_export(service: LoadedService, filters: exports.ExportFilter, fmt: str, plan: exports.ExportPlan) -> None:
    households = db.session.scalars(filters.apply(
        select(Registration.household_id).distinct().where(Registration.household_id.is_not(None))))
    log_read(current_user.id, Action.EXPORT, None, {
        **filters.audit_detail(), "format": fmt, "rows": plan.rows, "sensitive": plan.sensitive_included,
    }, households=list(households))


@bp.get("/export.csv")
@requires("export_registrations")
def export_csv(service: LoadedService) -> Response:
    """Every registration matching the filters as CSV (UTF-8 with BOM, ``;``), streamed."""
    filters = _export_filter(service)
    plan = exports.plan_export(service, filters, can(current_user, "read_sensitive_answers", service.code))
    _log_export(service, filters, "csv", plan)
    body = exports.iter_csv(plan.headers, exports.iter_rows(service, filters, plan))
    response = Response(stream_with_context(body), mimetype="text/csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="{_filename(service, filters, "csv")}"'
    return _no_store(response)


@bp.get("/export.xlsx")
@requires("export_registrations")
def export_xlsx(service: LoadedService) -> Response:
    """Every registration matching the filters as an XLSX workbook (dates and numbers typed)."""
    filters = _export_filter(service)
    plan = exports.plan_export(service, filters, can(current_user, "read_sensitive_answers", service.code))
    _log_export(service, filters, "xlsx", plan)
    title = filters.session.code if filters.session is not None else service.code
    data = exports.write_xlsx(title, plan.headers, exports.iter_rows(service, filters, plan))
    response = send_file(data, mimetype=XLSX, as_attachment=True,  # type: ignore[arg-type]
                         download_name=_filename(service, filters, "xlsx"))
    return _no_store(response)


# -- counts ----------------------------------------------------------------------------------------

def _date(text: str) -> dt.date:
    """A date as a date input sends it (2026-09-14) or as typed where there is none (14/09/2026),
    within the years the boundary accepts; ValueError otherwise."""
    return filter_day(text)


def _period() -> tuple[dt.date, dt.date, str | None]:
    """The dates asked (``from``, ``to``), a week from today by default, and an error if any."""
    start, end = today(), today() + dt.timedelta(days=6)
    error = None
    try:
        if request.args.get("from"):
            start = _date(request.args["from"])
        end = _date(request.args["to"]) if request.args.get("to") else max(end, start)
    except ValueError:
        return today(), today() + dt.timedelta(days=6), _("Type the dates as dd/mm/yyyy.")
    if end < start:
        error = _("The end date is before the start date.")
    elif (end - start).days >= counts.MAX_DAYS:
        error = _("Ask for %(n)s days at most.", n=counts.MAX_DAYS)
    return start, end, error


def _count_request(service: LoadedService) -> tuple[counts.CountSpec | None, dt.date, dt.date, list[str]]:
    sensitive = can(current_user, "read_sensitive_answers", service.code)
    known = [code for code, _label in _statuses(service)]
    spec = counts.parse_spec(request.args, service.definition, known)
    if request.args.get("report") and spec is None:
        abort(404)
    start, end, error = _period()
    problems = [error] if error else []
    if spec is not None:
        problems += counts.check_spec(service.definition, spec, sensitive)
    elif "group" in request.args:
        problems.append(_("Choose at least one thing to group by."))
    return spec, start, end, problems


@bp.get("/comptages")
@requires("read_reports")
def counts_page(service: LoadedService) -> str:
    spec, start, end, problems = _count_request(service)
    table = None
    if spec is not None and not problems:
        table = counts.compute_counts(service, spec, start, end)
    sensitive = can(current_user, "read_sensitive_answers", service.code)
    return render_template(
        "reports/counts.html",
        service=service,
        spec=spec,
        table=table,
        problems=problems,
        start=start,
        end=end,
        declared=service.definition.reports.counts,
        keys=counts.groupable_keys(service.definition, sensitive),
        day_fields=counts.day_fields(service.definition),
        statuses=_statuses(service),
        csv_url=url_for(".counts_csv", service_code=service.code, **request.args.to_dict(flat=False)),
    )


@bp.get("/comptages.csv")
@requires("read_reports")
def counts_csv(service: LoadedService) -> Response:
    """The same counts as CSV (figures only: no names, no answers of any one family); audited."""
    spec, start, end, problems = _count_request(service)
    if spec is None or problems:
        abort(400)
    table = counts.compute_counts(service, spec, start, end)
    # Figures only, but still a file leaving the application: logged like every export.
    log_read(current_user.id, Action.EXPORT, None, {
        "service": service.code, "format": "counts_csv", "report": spec.code or None,
        "group_by": list(spec.group_by), "per_day": spec.per_day, "statuses": list(spec.statuses),
        "from": start.isoformat() if spec.per_day else None, "to": end.isoformat() if spec.per_day else None,
        "rows": len(table.rows),
    })
    headers, rows = counts.csv_rows(table)
    response = Response("".join(exports.iter_csv(headers, rows)), mimetype="text/csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    name = spec.code or "comptage"
    response.headers["Content-Disposition"] = f'attachment; filename="{service.code}-{name}-{start.isoformat()}.csv"'
    return _no_store(response)


# -- attendance lists ------------------------------------------------------------------------------

@bp.get("/seances/<session_code>/presence.pdf")
@requires("read_reports")
def attendance_pdf(service: LoadedService, session_code: str) -> Response:
    """The printable attendance list of one session (accepted registrations, by name)."""
    session = _session(service, session_code)
    assert session is not None
    try:
        ticks = int(request.args.get("columns", attendance.DEFAULT_TICKS))
    except ValueError:
        ticks = attendance.DEFAULT_TICKS
    people = attendance.attendees(session)
    log_read(current_user.id, Action.EXPORT, None, {
        "service": service.code, "session": session.code, "format": "attendance_pdf", "rows": len(people),
    }, households=[a.household_id for a in people])
    pdf = attendance.render_attendance(service, session, people, ticks)
    response = Response(pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = (
        f'inline; filename="presence-{service.code}-{session.code}.pdf"'
    )
    return _no_store(response)


# -- allocation log --------------------------------------------------------------------------------

def _page_arg() -> int:
    return max(1, min(request.args.get("page", 1, type=int) or 1, MAX_PAGE))


def _log_period() -> tuple[tuple[dt.date, dt.date] | None, dt.date, dt.date, str | None]:
    """The runs' period asked (``from``, ``to``): ``(period or None when none was asked, start, end,
    error)``; the form shows the last 30 days by default."""
    start, end = today() - dt.timedelta(days=29), today()
    if not request.args.get("from") and not request.args.get("to"):
        return None, start, end, None
    try:
        if request.args.get("from"):
            start = _date(request.args["from"])
        if request.args.get("to"):
            end = _date(request.args["to"])
    except ValueError:
        return None, today() - dt.timedelta(days=29), today(), _("Type the dates as dd/mm/yyyy.")
    if end < start:
        return None, start, end, _("The end date is before the start date.")
    if (end - start).days >= allocation_log.MAX_DAYS:
        return None, start, end, _("Ask for %(n)s days at most.", n=allocation_log.MAX_DAYS)
    return (start, end), start, end, None


@bp.get("/attribution")
@requires("read_reports")
def allocation_runs(service: LoadedService) -> str:
    """The allocator's runs for the service, most recent first (optionally those of a period)."""
    period, start, end, error = _log_period()
    page = _page_arg()
    runs, total = allocation_log.runs_page(service.code, page, period)
    pages = max(1, (total + allocation_log.RUNS_PER_PAGE - 1) // allocation_log.RUNS_PER_PAGE)
    if page > pages:
        page = pages
        runs, total = allocation_log.runs_page(service.code, page, period)
    return render_template(
        "reports/allocation_runs.html", service=service, runs=runs, total=total, page=page, pages=pages,
        period=period, start=start, end=end, error=error, outcomes=allocation_log.OUTCOMES,
        rule_name=allocation_log.rule_name,
    )


@bp.get("/attribution/essai")
@requires("read_reports")
def allocation_trial(service: LoadedService) -> str:
    """Before the ranking: what it would decide now, with a trial seed (a new one at each visit),
    shown as a trial and never recorded or published."""
    if not service.definition.allocation.uses_draw:
        abort(404)
    trial_seed = new_seed()
    lines = trial(service.code, trial_seed)
    return render_template(
        "reports/allocation_trial.html", service=service, lines=lines[:TRIAL_SHOWN], total=len(lines),
        seed=trial_seed, labels=allocation_log.session_labels(service), outcome_name=allocation_log.outcome_name,
        reason_text=allocation_log.reason_text, when=explain.when(service.definition),
        rule=service.definition.allocation.rule,
    )


@bp.get("/attribution/<int:run_id>")
@requires("read_reports")
def allocation_run(service: LoadedService, run_id: int) -> str:
    """One run's decisions, in the order it made them."""
    run = allocation_log.run_of(service.code, run_id)
    if run is None:
        abort(404)
    total = allocation_log.count_decisions(service.code, run_id=run.id)
    pages = max(1, (total + allocation_log.DECISIONS_PER_PAGE - 1) // allocation_log.DECISIONS_PER_PAGE)
    page = min(_page_arg(), pages)
    rows = list(allocation_log.decisions(service, run_id=run.id,
                                         offset=(page - 1) * allocation_log.DECISIONS_PER_PAGE,
                                         limit=allocation_log.DECISIONS_PER_PAGE))
    return render_template(
        "reports/allocation_run.html", service=service, run=run, rows=rows, total=total, page=page, pages=pages,
        rule_name=allocation_log.rule_name,
    )


def _allocation_csv(service: LoadedService, filename: str, *, run_id: int | None = None,
                    period: tuple[dt.date, dt.date] | None = None) -> Response:
    """The decisions as CSV (the exports' conventions), the export written to the audit log first."""
    rows = allocation_log.count_decisions(service.code, run_id=run_id, period=period)
    # No names in it, but a file leaving the application all the same: logged like every export.
    log_read(current_user.id, Action.EXPORT, None, {
        "service": service.code, "format": "allocation_csv", "run": run_id,
        "from": period[0].isoformat() if period else None, "to": period[1].isoformat() if period else None,
        "rows": rows,
    })
    body = exports.iter_csv(allocation_log.csv_headers(),
                            (row.cells() for row in allocation_log.decisions(service, run_id=run_id, period=period)))
    response = Response(stream_with_context(body), mimetype="text/csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return _no_store(response)


@bp.get("/attribution/<int:run_id>.csv")
@requires("read_reports")
def allocation_run_csv(service: LoadedService, run_id: int) -> Response:
    """One run's decisions as CSV."""
    run = allocation_log.run_of(service.code, run_id)
    if run is None:
        abort(404)
    return _allocation_csv(service, f"{service.code}-attribution-{run.id}.csv", run_id=run.id)


@bp.get("/attribution.csv")
@requires("read_reports")
def allocation_csv(service: LoadedService) -> Response:
    """The decisions of the runs started in a period (``from``, ``to``; the last 30 days by default)."""
    period, start, end, error = _log_period()
    if error:
        abort(400)
    period = period or (start, end)
    return _allocation_csv(service, f"{service.code}-attribution-{period[0].isoformat()}-{period[1].isoformat()}.csv",
                           period=period)
