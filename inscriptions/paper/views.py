"""Mass printing pages of the back office (``/gestion/<service>/impression``).

Managers of a service (and administrators) ask for the service's forms — prefilled for the
households registered last school year, for every household or for chosen ones, plus blank
forms — or for the letters owed to families without e-mail. The work runs as a background job
(:mod:`inscriptions.paper.batch`); the job's page shows its progress (an "Actualiser" link, and
an HTTP ``Refresh`` header while it runs: no script, nothing inline, CSP-safe) and the download
link when the PDF is ready. PDFs are served only here, to the same staff, never statically.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint, abort, current_app, make_response, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import BooleanField, HiddenField, IntegerField, RadioField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, NumberRange, Optional, ValidationError

from inscriptions.audit import Action, log_read
from inscriptions.clock import local_zone, now
from inscriptions.definitions.registry import LoadedService, registry
from inscriptions.extensions import db
from inscriptions.models import PrintJob
from inscriptions.paper import batch
from inscriptions.permissions import can, services_with

bp = Blueprint("paper", __name__, url_prefix="/gestion")

# Seconds between automatic reloads of a running job's page (HTTP Refresh header).
REFRESH_SECONDS = 3
F = TypeVar("F", bound=Callable[..., Any])


def _service(code: str) -> LoadedService:
    service = registry().get(code)
    if service is None:
        abort(404)
    return service


def print_required(view: F) -> F:
    """Log-in required; then the ``print_paper_forms`` permission for the URL's service (403)."""

    @wraps(view)
    def wrapped(service: str, *args: Any, **kwargs: Any) -> Any:
        loaded = _service(service)
        if not can(current_user, "print_paper_forms", loaded.code):
            abort(403)
        return view(loaded, *args, **kwargs)

    return login_required(wrapped)  # type: ignore[return-value]


def printable_services(account: Any) -> list[LoadedService]:
    """The services ``account`` may mass-print for (for menus and links)."""
    if account is None or not getattr(account, "is_authenticated", False):
        return []
    codes = services_with(account, "print_paper_forms")
    return [s for s in registry().all() if codes is None or s.code in codes]


@bp.app_context_processor
def _links() -> dict[str, Any]:
    # A function, not a list: only pages that show the link pay for the permission query.
    return {"mass_print_services": lambda: printable_services(current_user)}


# -- forms -------------------------------------------------------------------------------------------

def _choices(pairs: Any) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in pairs]


def _ids(text: str) -> list[int]:
    parts = [p for p in text.replace(";", ",").replace(" ", ",").replace("\n", ",").split(",") if p.strip()]
    try:
        return sorted({int(p) for p in parts})
    except ValueError:
        raise ValidationError(_l("Give household numbers separated by commas, for example 12, 15, 40.")) from None


class FormsJobForm(FlaskForm):
    """Which households get a prefilled form, and how many blank forms."""

    kind = HiddenField(default=batch.FORMS)
    selection = RadioField(
        _l("Prefilled forms for"),
        choices=_choices([
            (batch.PREVIOUS_YEAR, _l("Households registered to this service last school year")),
            (batch.ALL, _l("Every household")),
            (batch.IDS, _l("Chosen households (numbers below)")),
            (batch.NONE, _l("No household (blank forms only)")),
        ]),
        default=batch.PREVIOUS_YEAR, validators=[InputRequired()],
    )
    # No Optional(): it would stop the chain on an empty field before the check below.
    household_ids = StringField(_l("Household numbers"), description=_l("For example 12, 15, 40."))
    blank = IntegerField(_l("Blank forms"), default=0,
                         validators=[Optional(), NumberRange(min=0, max=batch.MAX_BLANK)])
    with_answers = BooleanField(_l("Prefill last year's answers (never health data or consents)"))

    def validate_household_ids(self, field: StringField) -> None:
        if self.selection.data == batch.IDS:
            if not (field.data or "").strip():
                raise ValidationError(_l("Give at least one household number."))
            _ids(field.data)

    def validate_blank(self, field: IntegerField) -> None:
        if self.selection.data == batch.NONE and not field.data:
            raise ValidationError(_l("Give the number of blank forms to print."))

    def params(self) -> dict[str, Any]:
        ids = _ids(self.household_ids.data or "") if self.selection.data == batch.IDS else []
        return {"selection": self.selection.data, "household_ids": ids, "blank": self.blank.data or 0,
                "with_answers": bool(self.with_answers.data)}


class LettersJobForm(FlaskForm):
    """Letters owed to families without e-mail since a date."""

    kind = HiddenField(default=batch.LETTERS)
    since = StringField(_l("Status changes since"), description=_l("For example 01/09/2026."),
                        validators=[InputRequired(_l("Give the date of the first status change to write about."))])

    def validate_since(self, field: StringField) -> None:
        from inscriptions.counter.forms import parse_day

        day = parse_day(field.data or "")
        if day > now().astimezone(local_zone()).date():
            raise ValidationError(_l("The date cannot be in the future."))
        field.parsed = day  # type: ignore[attr-defined]


# -- pages -------------------------------------------------------------------------------------------

def _status_label(job: PrintJob) -> str:
    labels = {batch.QUEUED: _("Waiting"), batch.RUNNING: _("In progress"), batch.DONE: _("Ready"),
              batch.FAILED: _("Failed")}
    return labels.get(job.status, job.status)


def _error_text(job: PrintJob) -> str:
    if job.error == batch.EMPTY:
        return _("Nothing to print: no household (or child of the right age) or letter matches.")
    return _("The printing failed: %(error)s", error=job.error) if job.error else ""


def paper_base() -> str:
    """The layout these pages extend: the back office's once it exists, the counter's until then."""
    from jinja2 import TemplateNotFound

    try:
        current_app.jinja_env.get_template("backoffice/_base.html")
    except TemplateNotFound:
        return "paper/_base_counter.html"
    return "paper/_base_backoffice.html"


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {"print_status": _status_label, "print_error": _error_text, "paper_base": paper_base}


@bp.get("/impression")
@login_required
def print_index() -> Any:
    """The services the account may mass-print for (the back office's "Mass printing" link)."""
    services = printable_services(current_user)
    if not services:
        abort(403)
    if len(services) == 1:
        return redirect(url_for(".print_home", service=services[0].code))
    return render_template("paper/index.html", services=services)


@bp.route("/<service>/impression", methods=["GET", "POST"])
@print_required
def print_home(service: LoadedService) -> Any:
    posted = request.method == "POST"
    kind = request.form.get("kind") if posted else None
    forms = FormsJobForm(prefix="forms", formdata=request.form if kind == batch.FORMS else None)
    letters = LettersJobForm(prefix="letters", formdata=request.form if kind == batch.LETTERS else None)
    if not posted:
        letters.since.data = (now().astimezone(local_zone()).date() - dt.timedelta(days=7)).strftime("%d/%m/%Y")
    chosen = forms if kind == batch.FORMS else letters if kind == batch.LETTERS else None
    if chosen is not None and chosen.validate():
        params = (forms.params() if chosen is forms
                  else {"since": letters.since.parsed.isoformat()})  # type: ignore[attr-defined]
        job = batch.request_print(kind, service.code, params, current_user.id)
        # Mass printing puts many families' data on paper: the DPO sees who asked for what.
        log_read(current_user.id, Action.EXPORT, None,
                 {"print_job": job.id, "service": service.code, "kind": kind, **params},
                 _("Mass printing"))
        return redirect(url_for(".print_job", service=service.code, job_id=job.id))
    if posted and chosen is None:
        abort(400)
    failed = bool(chosen is not None and chosen.errors)
    return render_template("paper/print.html", service=service, forms=forms, letters=letters,
                           jobs=batch.recent_jobs(service.code), failed=failed), (422 if failed else 200)


def _job(service: LoadedService, job_id: int) -> PrintJob:
    job = db.session.get(PrintJob, job_id)
    if job is None or job.service_code != service.code:
        abort(404)
    return job


@bp.get("/<service>/impression/<int:job_id>")
@print_required
def print_job(service: LoadedService, job_id: int) -> Any:
    from inscriptions.privacy.settings import privacy_settings

    job = _job(service, job_id)
    response = make_response(render_template("paper/job.html", service=service, job=job,
                                        ready=batch.job_file(job) is not None,
                                        print_retention_days=privacy_settings().print_retention_days))
    if job.status in batch.ACTIVE:
        # An HTTP header, not <meta http-equiv>: works without JavaScript and under a strict CSP.
        response.headers["Refresh"] = str(REFRESH_SECONDS)
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.post("/<service>/impression/<int:job_id>/relancer")
@print_required
def print_again(service: LoadedService, job_id: int) -> Response:
    """A print run whose PDF was deleted (retention, a family's erasure), asked again with the same
    choices: a new run, drawn from the data as it is now (an erased family is no longer in it)."""
    job = _job(service, job_id)
    if job.status in batch.ACTIVE:
        abort(409)
    params = {k: v for k, v in (job.params or {}).items() if k != batch.PRINTED_KEY}
    again = batch.request_print(job.kind, service.code, params, current_user.id)
    log_read(current_user.id, Action.EXPORT, None,
             {"print_job": again.id, "service": service.code, "kind": job.kind, "again_of": job.id, **params},
             _("Mass printing"))
    return redirect(url_for(".print_job", service=service.code, job_id=again.id))


@bp.get("/<service>/impression/<int:job_id>/document.pdf")
@print_required
def print_download(service: LoadedService, job_id: int) -> Response:
    job = _job(service, job_id)
    path = batch.job_file(job)
    if path is None:
        abort(404)
    log_read(current_user.id, Action.EXPORT, None,
             {"print_job": job.id, "service": service.code, "kind": job.kind, "download": True},
             _("Mass printing"), households=batch.printed_households(job))
    name = f"{service.code}-{job.kind}-{job.id}.pdf"
    response = send_file(path, mimetype="application/pdf", as_attachment=True, download_name=name,
                         conditional=False, etag=False, max_age=0)
    response.headers["Cache-Control"] = "private, no-store"
    return response
