"""The back office (``/gestion``): the staff's side of each service.

Home lists the services the staff member may review; each service has a review queue (filters,
pages, bulk actions), a registration page (answers, history, moves one by one) and the list of
letters to print for families without e-mail. Other sections (reports, audit log, mass printing)
hang their links on the navigation of ``templates/backoffice/_base.html``.

Every page works without JavaScript. Each read of the queue or of a registration, and each change,
is written to the audit log (:mod:`inscriptions.audit`); the reason of a back-office read is the
review itself.
"""

from __future__ import annotations

import datetime as dt
import io
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, send_file, url_for
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import Select, func, select
from sqlalchemy.orm import selectinload
from werkzeug.wrappers import Response

from inscriptions import TOWN_KEY
from inscriptions.audit import Action, log_read
from inscriptions.backoffice import workflow
from inscriptions.backoffice.access import (
    backoffice_required,
    has_backoffice_access,
    reviewable_services,
    service_for_review,
)
from inscriptions.boundary import filter_day
from inscriptions.clock import local_zone, now
from inscriptions.definitions import schema as s
from inscriptions.definitions.loader import LoadedService
from inscriptions.definitions.registry import definition_for
from inscriptions.digits import MAX_PAGE, is_digits
from inscriptions.extensions import db
from inscriptions.models import Child, Household, Registration, ServiceSession, Status
from inscriptions.notifications import household_emails, status_label
from inscriptions.portal import catalogue
from inscriptions.pricing import euros
from inscriptions.privacy.sensitive import answer_pages_for, staff_document_tokens
from inscriptions.uploads import download_response, find_upload

bp = Blueprint("backoffice", __name__, url_prefix="/gestion")

PAGE_SIZE = 50
# The reason written in the audit log for reads made while reviewing a service.
REVIEW_REASON = "back office: review of the service's registrations"
LETTER_DAYS = 30
CHANNEL_LABELS = {
    "web": _l("Web"), "counter": _l("Counter"), "paper": _l("Paper"), "phone": _l("Phone"),
    "mail": _l("Mail"), "api": _l("API"),
}


@bp.app_context_processor
def _nav() -> dict[str, Any]:
    # For the "Gestion" link of base.html: one grants query per request at most.
    def backoffice_access() -> bool:
        cached = getattr(request, "_backoffice_access", None)
        if cached is None:
            cached = request._backoffice_access = has_backoffice_access(current_user)  # type: ignore[attr-defined]
        return bool(cached)

    def backoffice_services() -> list[LoadedService]:
        # The navigation of backoffice/_base.html, also on other modules' pages that extend it.
        cached = getattr(request, "_backoffice_services", None)
        if cached is None:
            cached = request._backoffice_services = (  # type: ignore[attr-defined]
                reviewable_services(current_user) if current_user.is_authenticated else []
            )
        return list(cached)

    return {"backoffice_access": backoffice_access, "backoffice_services": backoffice_services}


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {
        "status_label": status_label,
        "euros": euros,
        "per_unit": catalogue.per_unit,
        "stamp": catalogue.stamp,
        "short_stamp": short_stamp,
        "household_detail": household_detail,
        "channel_label": lambda code: str(CHANNEL_LABELS.get(code, code)),
    }


def short_stamp(value: dt.datetime) -> str:
    """A moment stored in the database (naive UTC) as ``15/09/2026 10:00``, local time (the queue's
    table, where the long form would take a third of the width)."""
    aware = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value
    return format_datetime(aware, "short")


def household_detail(household: Household | None) -> str:
    """What tells a household apart from another of the same name, at a glance and without
    personal details beyond the queue's: its number, its guardians' first names, its town
    (``n° 12 – Sophie, Karim – Villebelle``)."""
    if household is None:
        return ""
    parts = [_("no. %(number)s", number=household.id)]
    first_names = ", ".join(dict.fromkeys(g.first_name for g in household.guardians if g.first_name))
    if first_names:
        parts.append(first_names)
    if household.city:
        parts.append(household.city)
    return " – ".join(parts)


# -- home ------------------------------------------------------------------------------------------

@bp.get("/")
@backoffice_required
def home() -> str:
    services = reviewable_services(current_user)
    counts: dict[tuple[str, str], int] = {}
    if services:
        rows = db.session.execute(
            select(Registration.service_code, Registration.status, func.count(Registration.id))
            .where(Registration.service_code.in_([s.code for s in services]))
            .group_by(Registration.service_code, Registration.status)
        ).all()
        counts = {(code, status): n for code, status, n in rows}
    return render_template("backoffice/home.html", services=services, counts=counts)


# -- the queue -------------------------------------------------------------------------------------

@dataclass
class AnswerFilter:
    """One answer field offered as a filter of the queue, with its choices."""

    name: str
    label: str
    choices: list[tuple[str, str]]
    value: str = ""

    @property
    def param(self) -> str:
        return f"a_{self.name}"


def answer_filters(defn: s.ServiceDefinition) -> list[AnswerFilter]:
    """The answer fields the queue can be filtered on (``workflow.queue_filters``, or every
    non-sensitive single choice field)."""
    rules = defn.workflow_rules
    names = rules.queue_filters if rules is not None and rules.queue_filters is not None else None
    found: list[AnswerFilter] = []
    for _page, fld in defn.iter_fields():
        if names is not None and fld.name not in names:
            continue
        if fld.sensitive:
            continue
        if isinstance(fld, s.SingleChoiceField):
            found.append(AnswerFilter(fld.name, fld.label, [(c.value, c.label) for c in fld.choices]))
        elif isinstance(fld, s.YesNoField) and names is not None:
            found.append(AnswerFilter(fld.name, fld.label, [("yes", str(_("Yes"))), ("no", str(_("No")))]))
    return found


def _local_day(value: str) -> dt.date | None:
    try:
        return filter_day(value) if value and value.strip() else None
    except ValueError:
        return None


def _utc_naive_start(day: dt.date) -> dt.datetime:
    """Midnight of a local day, as stored (naive UTC)."""
    zone = local_zone(current_app.config.get("BABEL_DEFAULT_TIMEZONE", "Europe/Paris"))
    local = dt.datetime.combine(day, dt.time(0), tzinfo=zone)
    return local.astimezone(dt.UTC).replace(tzinfo=None)


@dataclass
class QueueFilters:
    """The filters of the queue read from the query string (unknown values are ignored)."""

    status: str = ""
    session: str = ""
    school: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    answers: list[AnswerFilter] | None = None
    errors: dict[str, str] | None = None
    # Cancelled registrations are left out unless asked for (or unless the status filter is
    # "cancelled"): they are no longer to review and used to crowd the queue.
    show_cancelled: bool = False

    @property
    def hides_cancelled(self) -> bool:
        return not self.show_cancelled and not self.status

    def apply(self, query: Select, service: LoadedService) -> Select:
        query = self._matching(query, service)
        if self.hides_cancelled:
            query = query.where(Registration.status != Status.CANCELLED)
        return query

    def hidden_cancelled(self, service: LoadedService) -> int:
        """How many cancelled registrations match the other filters but are hidden."""
        if not self.hides_cancelled:
            return 0
        query = self._matching(select(func.count(Registration.id)), service)
        return int(db.session.scalar(query.where(Registration.status == Status.CANCELLED)) or 0)

    def _matching(self, query: Select, service: LoadedService) -> Select:
        query = query.where(Registration.service_code == service.code)
        if self.status:
            query = query.where(Registration.status == self.status)
        if self.session:
            query = query.join(ServiceSession, ServiceSession.id == Registration.session_id).where(
                ServiceSession.code == self.session
            )
        if self.school:
            query = query.join(Child, Child.id == Registration.child_id).where(Child.school == self.school)
        if self.date_from:
            query = query.where(Registration.created_at >= _utc_naive_start(self.date_from))
        if self.date_to:
            query = query.where(Registration.created_at < _utc_naive_start(self.date_to + dt.timedelta(days=1)))
        for flt in self.answers or []:
            if not flt.value:
                continue
            if flt.value in ("yes", "no") and [c for c, _l in flt.choices] == ["yes", "no"]:
                query = query.where(Registration.answers[flt.name].as_boolean() == (flt.value == "yes"))
            else:
                query = query.where(Registration.answers[flt.name].as_string() == flt.value)
        return query

    def args(self) -> dict[str, str]:
        """The filters as query-string arguments (for the pages' links)."""
        found = {"status": self.status, "session": self.session, "school": self.school,
                 "from": self.date_from.isoformat() if self.date_from else "",
                 "to": self.date_to.isoformat() if self.date_to else "",
                 "show_cancelled": "1" if self.show_cancelled else ""}
        found.update({f.param: f.value for f in self.answers or []})
        return {k: v for k, v in found.items() if v}


def read_filters(service: LoadedService, schools: list[str]) -> QueueFilters:
    """The queue's filters from ``request.args``; an invalid date is reported, not applied."""
    defn = service.definition
    args = request.args
    filters = QueueFilters(errors={})
    status = args.get("status", "")
    filters.status = status if status in workflow.all_statuses(defn) else ""
    session = args.get("session", "")
    filters.session = session if defn.session(session) is not None else ""
    school = args.get("school", "")
    filters.school = school if school in schools else ""
    filters.show_cancelled = args.get("show_cancelled", "") == "1"
    for key, attr in (("from", "date_from"), ("to", "date_to")):
        raw = args.get(key, "")
        day = _local_day(raw)
        if raw and day is None:
            filters.errors[key] = _("Enter a date such as 2026-09-15.")
        setattr(filters, attr, day)
    filters.answers = answer_filters(defn)
    for flt in filters.answers:
        value = args.get(flt.param, "")
        flt.value = value if value in [c for c, _l in flt.choices] else ""
    return filters


def _schools(service: LoadedService) -> list[str]:
    if service.definition.audience != "child":
        return []
    town = current_app.extensions[TOWN_KEY]
    return list(getattr(town, "schools", []) or [])


@bp.get("/<service_code>/")
@backoffice_required
def queue(service_code: str) -> str:
    service = service_for_review(service_code)
    defn = service.definition
    schools = _schools(service)
    filters = read_filters(service, schools)
    page = max(1, min(request.args.get("page", 1, type=int) or 1, MAX_PAGE))
    total = int(db.session.scalar(filters.apply(select(func.count(Registration.id)), service)) or 0)
    pages = max(1, (total + PAGE_SIZE - 1) // PAGE_SIZE)
    page = min(page, pages)
    regs = list(db.session.scalars(
        filters.apply(select(Registration), service)
        .options(selectinload(Registration.child), selectinload(Registration.guardian),
                 selectinload(Registration.household).selectinload(Household.guardians),
                 selectinload(Registration.session))
        .order_by(Registration.created_at, Registration.id)
        .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)
    ))
    hidden_cancelled = filters.hidden_cancelled(service)
    log_read(current_user.id, workflow.READ_QUEUE, None,
             {"service": service.code, "filters": filters.args(), "page": page,
              "registrations": [r.id for r in regs]}, REVIEW_REASON,
             households=[r.household_id for r in regs])
    roles = workflow.staff_roles(current_user, service.code)
    moves = workflow.role_moves(defn, roles)
    bulk_targets = sorted({t for targets in moves.values() for t in targets}, key=workflow._status_order(defn))
    return render_template(
        "backoffice/queue.html",
        service=service, defn=defn, registrations=regs, filters=filters, schools=schools,
        statuses=workflow.all_statuses(defn), total=total, page=page, pages=pages,
        hidden_cancelled=hidden_cancelled,
        bulk_targets=bulk_targets, reason_required=[str(x) for x in workflow.REASON_REQUIRED],
    )


@bp.post("/<service_code>/actions")
@backoffice_required
def bulk(service_code: str) -> Any:
    service = service_for_review(service_code)
    ids = [int(x) for x in request.form.getlist("registration") if is_digits(x)][:500]
    to = request.form.get("to", "")
    reason = request.form.get("reason", "")
    back = request.form.get("back", "")
    back_url = back if back.startswith(f"/gestion/{service.code}/") else url_for(".queue", service_code=service.code)
    if not ids:
        flash(_("Select at least one registration."), "error")
        return redirect(back_url)
    if to not in workflow.all_statuses(service.definition):
        flash(_("Choose the new status."), "error")
        return redirect(back_url)
    if to in workflow.REASON_REQUIRED and not reason.strip():
        flash(_("Give a reason: the family will read it."), "error")
        return redirect(back_url)
    roles = workflow.staff_roles(current_user, service.code)
    result = workflow.move_many(ids, to, actor=current_user, roles=roles, reason=reason, service_code=service.code)
    return render_template("backoffice/bulk_result.html", service=service, result=result, to=to, back_url=back_url)


# -- one registration ------------------------------------------------------------------------------

def _registration(service: LoadedService, reference: str) -> Registration:
    reg = db.session.scalar(select(Registration).filter_by(reference=reference[:20].upper()))
    if reg is None or reg.service_code != service.code:
        abort(404)
    return reg


@bp.get("/<service_code>/inscriptions/<reference>")
@backoffice_required
def registration(service_code: str, reference: str) -> str:
    service = service_for_review(service_code)
    reg = _registration(service, reference)
    defn = definition_for(reg.form_version_id)
    pages, sensitive = answer_pages_for(current_user, reg)
    log_read(current_user.id, Action.READ_REGISTRATION, reg.household_id,
             {"reference": reg.reference, "service": reg.service_code, "sensitive_shown": sensitive,
              "from": "backoffice"}, REVIEW_REASON, registration_id=reg.id)
    roles = workflow.staff_roles(current_user, service.code)
    return render_template(
        "backoffice/registration.html",
        service=service, registration=reg, pages=pages,
        sensitive_hidden=not sensitive and any(f.sensitive for _i, f in defn.iter_fields()),
        targets=workflow.allowed_targets(service.definition, reg.status, roles),
        reason_required=[str(x) for x in workflow.REASON_REQUIRED],
        has_email=reg.household_id is not None and bool(household_emails(reg.household_id)),
        letter=_letter_kind(reg) is not None and reg.household is not None,
        error=None,
        document_link=document_link(reg),
    )


@bp.get("/<service_code>/inscriptions/<reference>/documents/<token>")
@backoffice_required
def document(service_code: str, reference: str, token: str) -> Response:
    """A file sent with this registration's form (a medical certificate...), for the staff who
    review it: only a file of an answer they may read (a sensitive field needs the permission to
    read health data), and every opening is in the audit log."""
    service = service_for_review(service_code)
    reg = _registration(service, reference)
    if token not in staff_document_tokens(current_user, reg) or reg.household_id is None:
        abort(404)
    upload = find_upload(token, reg.household_id)
    if upload is None:
        abort(404)
    log_read(current_user.id, Action.READ_DOCUMENT, reg.household_id,
             {"reference": reg.reference, "service": reg.service_code, "file": upload.filename},
             REVIEW_REASON, registration_id=reg.id)
    return download_response(upload)


def document_link(reg: Registration) -> Any:
    """``token -> URL`` of the staff's copy of the files sent with ``reg`` (the answers' links)."""
    return lambda token: url_for("backoffice.document", service_code=reg.service_code, reference=reg.reference,
                                 token=token)


@bp.post("/<service_code>/inscriptions/<reference>/statut")
@backoffice_required
def change(service_code: str, reference: str) -> Any:
    service = service_for_review(service_code)
    reg = _registration(service, reference)
    to = request.form.get("to", "")
    reason = request.form.get("reason", "")
    roles = workflow.staff_roles(current_user, service.code)
    try:
        workflow.move(reg.id, to, actor=current_user, roles=roles, reason=reason)
    except workflow.MoveRefused as exc:
        db.session.expire_all()
        reg = _registration(service, reference)
        flash(str(exc), "error")
        return redirect(url_for(".registration", service_code=service.code, reference=reg.reference), 303)
    flash(_("Status changed: %(status)s.", status=status_label(to)), "success")
    return redirect(url_for(".registration", service_code=service.code, reference=reg.reference), 303)


def _letter_kind(reg: Registration) -> str | None:
    from inscriptions.paper.letters import KINDS

    return next((kind for status, kind in KINDS.items() if status == reg.status), None)


def _pdf(letters: list[Any], name: str) -> Response:
    from inscriptions.paper.letters import render_letters

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "letters.pdf"
        render_letters(letters, path)
        data = path.read_bytes()
    response = send_file(io.BytesIO(data), mimetype="application/pdf", as_attachment=False,
                         download_name=name, max_age=0)
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/<service_code>/inscriptions/<reference>/courrier.pdf")
@backoffice_required
def letter(service_code: str, reference: str) -> Response:
    """The letter telling the family the current status of this booking (families without e-mail)."""
    from inscriptions.paper.letters import Letter

    service = service_for_review(service_code)
    reg = _registration(service, reference)
    if _letter_kind(reg) is None or reg.household is None:  # no letter for this status, or anonymised
        abort(404)
    regs = list(db.session.scalars(
        select(Registration).filter_by(batch=reg.batch, household_id=reg.household_id, status=reg.status,
                                       service_code=service.code)
        .order_by(Registration.id)
    ))
    log_read(current_user.id, Action.PRINT_LETTER, reg.household_id,
             {"references": [r.reference for r in regs], "from": "backoffice"}, REVIEW_REASON,
             registration_id=reg.id)
    return _pdf([Letter(reg.household, regs)], f"courrier-{reg.reference}.pdf")


# -- letters to print ------------------------------------------------------------------------------

def _letters_since() -> tuple[dt.date, dt.datetime]:
    today = now().astimezone(local_zone()).date()
    day = _local_day(request.args.get("since", "")) or (today - dt.timedelta(days=LETTER_DAYS))
    return day, _utc_naive_start(day)


def service_letters(service: LoadedService, since: dt.datetime) -> list[Any]:
    """Letters owed to households without e-mail for this service's status changes since ``since``."""
    from inscriptions.paper.letters import Letter, pending_letters

    letters = []
    for item in pending_letters(since):
        regs = [r for r in item.registrations if r.service_code == service.code]
        if regs:
            letters.append(Letter(item.household, regs))
    return letters


@bp.get("/<service_code>/courriers")
@backoffice_required
def letters(service_code: str) -> str:
    service = service_for_review(service_code)
    day, since = _letters_since()
    found = service_letters(service, since)
    log_read(current_user.id, workflow.READ_QUEUE, None,
             {"service": service.code, "letters_since": day.isoformat()}, REVIEW_REASON,
             households=[item.household.id for item in found])
    return render_template("backoffice/letters.html", service=service, letters=found, since=day)


@bp.get("/<service_code>/courriers.pdf")
@backoffice_required
def letters_pdf(service_code: str) -> Response:
    service = service_for_review(service_code)
    day, since = _letters_since()
    found = service_letters(service, since)
    if not found:
        abort(404)
    for item in found:
        db.session.add(_print_event(item))
    db.session.commit()
    return _pdf(found, f"courriers-{service.code}-{day.isoformat()}.pdf")


def _print_event(item: Any) -> Any:
    from inscriptions.audit import log_access

    return log_access(current_user.id, Action.PRINT_LETTER, item.household.id,
                      {"references": [r.reference for r in item.registrations], "from": "backoffice"},
                      REVIEW_REASON)

