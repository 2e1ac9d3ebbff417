"""Scan intake screens (``/guichet/numerisation``): upload a stack, check each document, confirm.

Every page of an upload is stored (image and reading, :mod:`inscriptions.intake.store`). A
document (one print token) opens as the counter's one-page entry form prefilled with what the
reader found; questions to check are flagged beside the crop of the scan; the agent types the
handwritten answers and confirms. The booking goes through
:func:`inscriptions.registrations.create.create_registrations` with channel ``paper`` and the
idempotency key ``scan:<token>``: a printed form is never registered twice. Pages that cannot be
identified wait in the manual queue until an agent types their code or rejects them.

Images and crops are served only through the routes below, to staff of the form's service
(crops of sensitive questions only to roles allowed to read sensitive answers). For an agent
without that permission the entry form does not show the values read for sensitive questions
either: they stay on the server and are registered as read (:class:`ScanEntry`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, abort, current_app, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from werkzeug.datastructures import CombinedMultiDict
from werkzeug.wrappers import Response

from inscriptions.allocation.status import application_status
from inscriptions.audit import Action, log_access, log_read
from inscriptions.clock import utcnow_naive
from inscriptions.counter.access import counter_required
from inscriptions.counter.entry import CounterEntry, Store
from inscriptions.counter.forms import SessionChoiceForm, choice_hint, session_choice
from inscriptions.counter.search import QUERY_MIN, search_households
from inscriptions.definitions import schema as s
from inscriptions.definitions.registry import definition_for, definition_of, registry
from inscriptions.extensions import db
from inscriptions.family.email_confirmation import request_confirmations
from inscriptions.forms import web
from inscriptions.intake.store import (
    FAILED,
    MAX_PAGES,
    QUEUED,
    READING,
    IntakeError,
    UploadedFile,
    ingest,
    link_pages,
    load_png,
    start_reading,
    stored_reading,
)
from inscriptions.models import (
    Application,
    FormVersion,
    Household,
    PrintToken,
    Registration,
    ScanBatch,
    ScanPage,
    ScanPageStatus,
)
from inscriptions.models.scan import PENDING_PAGE_STATUSES
from inscriptions.paper import tokens
from inscriptions.paper.layout import stored_layout
from inscriptions.paper.reader import answers_from, document_values, session_cells
from inscriptions.permissions import can
from inscriptions.portal.wizard import Participant, candidates
from inscriptions.privacy.sensitive import hides_path, may_read_sensitive, sensitive_names, without_sensitive
from inscriptions.registrations.create import RegistrationInput, RegistrationRefused, create_registrations
from inscriptions.uploads import store_upload

bp = Blueprint("intake", __name__, url_prefix="/guichet/numerisation")

# Seconds between reloads of a batch page while its pages are being read (HTTP Refresh header).
REFRESH_SECONDS = 3
# Default size limit of one scan upload (MB), above the application's MAX_CONTENT_LENGTH.
SCAN_UPLOAD_MB = 300


@bp.url_value_preprocessor
def _upload_limit(endpoint: str | None, _values: Any) -> None:
    # URL value preprocessors run before the before_request functions, hence before CSRFProtect
    # parses the body: the scan upload alone gets its larger limit (a stack of 500 pages).
    if endpoint == "intake.home" and request.method == "POST":
        request.max_content_length = int(current_app.config.get("SCAN_UPLOAD_MB", SCAN_UPLOAD_MB)) * 1024 * 1024


def status_label(code: str) -> str:
    """The words for a page or document status."""
    labels = {
        "ok": _("Read, to confirm"),
        "review": _("To check"),
        "manual": _("Manual queue"),
        "duplicate": _("Duplicate"),
        "registered": _("Registered"),
        "rejected": _("Rejected"),
    }
    return labels.get(code, code)


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {"scan_status": status_label, "input_attributes": web.input_attributes, "may_open_image": may_open_image}


# -- helpers ---------------------------------------------------------------------------------------

def _service_of(page: ScanPage) -> str | None:
    if page.form_version_id is None:
        return None
    version = db.session.get(FormVersion, page.form_version_id)
    return version.service_code if version else None


def _may_see(page: ScanPage) -> bool:
    """Identified pages: staff of their service; unidentified ones: any counter agent."""
    code = _service_of(page)
    return code is None or can(current_user, "read_any_registration", code)


def _page(page_id: int) -> ScanPage:
    page = db.session.get(ScanPage, page_id)
    if page is None:
        abort(404)
    if not _may_see(page):
        abort(403)
    return page


def page_households(pages: list[ScanPage]) -> list[int]:
    """The households a set of scanned pages is about: their printed form's (a prefilled form),
    and the registrations confirmed from them (a blank form, once keyed)."""
    tokens = {p.document_key or p.token for p in pages} - {None}
    batches = {p.registration_batch for p in pages} - {None}
    found: set[int] = set()
    if tokens:
        found.update(db.session.scalars(select(PrintToken.household_id).where(
            PrintToken.token.in_(sorted(tokens)), PrintToken.household_id.is_not(None))))
    if batches:
        found.update(db.session.scalars(select(Registration.household_id).where(
            Registration.batch.in_(sorted(batches)), Registration.household_id.is_not(None))))
    return sorted(found)


def _log_scan_read(pages: list[ScanPage], detail: dict[str, Any]) -> None:
    """Log a read of scanned pages (a batch, an image, a cut-out), with the households they show."""
    codes = {code for code in (_service_of(p) for p in pages) if code}
    if len(codes) == 1:
        detail = {**detail, "service": codes.pop()}
    log_read(current_user.id, Action.READ_SCAN, None, detail, households=page_households(pages))


def _png(data: bytes | None) -> Response:
    if data is None:
        abort(404)
    response = Response(data, mimetype="image/png")
    response.headers["Cache-Control"] = "private, no-store"
    return response


# -- upload and batches ----------------------------------------------------------------------------

@bp.route("/", methods=["GET", "POST"])
@counter_required
def home() -> Any:
    error = None
    if request.method == "POST":
        files = [UploadedFile(f.read(), f.filename or "") for f in request.files.getlist("scans") if f]
        try:
            batch = ingest(files, current_user.id)
        except IntakeError as exc:
            error = exc.message
        else:
            if batch.reading_status in (QUEUED, READING):
                flash(_("%(n)s pages stored: they are being read.", n=batch.page_count), "success")
            elif batch.reading_status != FAILED:
                flash(_("%(n)s pages stored and read.", n=batch.page_count), "success")
            return redirect(url_for(".batch", batch_id=batch.id))
    batches = db.session.scalars(select(ScanBatch).order_by(ScanBatch.id.desc()).limit(20)).all()
    queue = db.session.scalar(select(db.func.count(ScanPage.id)).where(ScanPage.status == ScanPageStatus.MANUAL.value))
    return render_template("intake/home.html", error=error, batches=batches, queue=queue,
                           max_pages=MAX_PAGES), (422 if error else 200)


@dataclass
class DocumentRow:
    """One document of a batch, as listed."""

    token: str
    code: str
    total: int
    pages: list[ScanPage]
    missing: list[int]
    status: str


def _documents(pages: list[ScanPage]) -> list[DocumentRow]:
    rows: dict[str, list[ScanPage]] = {}
    for page in pages:
        if page.document_key and page.status != ScanPageStatus.DUPLICATE.value:
            rows.setdefault(page.document_key, []).append(page)
    result = []
    for token, found in rows.items():
        total = max(p.total or p.page or 1 for p in found)
        numbers = {p.page for p in found}
        missing = [n for n in range(1, total + 1) if n not in numbers]
        statuses = {p.status for p in found}
        if statuses == {ScanPageStatus.REGISTERED.value}:
            status = "registered"
        elif statuses == {ScanPageStatus.REJECTED.value}:
            status = "rejected"
        elif "review" in statuses or missing:
            status = "review"
        else:
            status = "ok"
        result.append(DocumentRow(token, tokens.human_code(token, 1), total, found, missing, status))
    return result


@bp.get("/lots/<int:batch_id>")
@counter_required
def batch(batch_id: int) -> Response:
    scan_batch = db.get_or_404(ScanBatch, batch_id)
    pages = list(scan_batch.pages)
    _log_scan_read(pages, {"scan_batch": scan_batch.id, "scan_pages": [p.id for p in pages]})
    response = make_response(render_template(
        "intake/batch.html", batch=scan_batch, documents=_documents(pages),
        manual=[p for p in pages if p.status in (ScanPageStatus.MANUAL.value, ScanPageStatus.REJECTED.value)],
        duplicates=[p for p in pages if p.status == ScanPageStatus.DUPLICATE.value],
        reading=scan_batch.reading_status in (QUEUED, READING),
    ))
    if scan_batch.reading_status in (QUEUED, READING):
        # An HTTP header, not <meta http-equiv>: no script, fine under the strict CSP.
        response.headers["Refresh"] = str(REFRESH_SECONDS)
    return response


@bp.post("/lots/<int:batch_id>/relire")
@counter_required
def resume(batch_id: int) -> Response:
    """Read the rest of a batch whose reading stopped (pages already read are kept)."""
    scan_batch = db.get_or_404(ScanBatch, batch_id)
    if scan_batch.reading_status != FAILED:
        abort(409)
    start_reading(scan_batch)
    return redirect(url_for(".batch", batch_id=batch_id))


# -- images ----------------------------------------------------------------------------------------

def may_open_image(page: ScanPage) -> bool:
    """Whether the current account may open the whole scanned page: a page that holds a sensitive
    question (health, PAI) shows its answer as plainly as its cut-out does, so it follows the same
    rule, for every role; a page not identified yet has no known questions and stays open to the
    counter agents who identify it (the manual queue)."""
    if not (page.reading or {}).get("sensitive_paths"):
        return True
    code = _service_of(page)
    return code is not None and can(current_user, "read_sensitive_answers", code)


@bp.get("/pages/<int:page_id>/image")
@counter_required
def page_image(page_id: int) -> Response:
    page = _page(page_id)
    if not may_open_image(page):
        abort(403)
    data = load_png(page.image_sha256)
    if data is not None:
        _log_scan_read([page], {"scan_page": page.id, "token": page.token})
    return _png(data)


@bp.get("/pages/<int:page_id>/decoupe")
@counter_required
def crop(page_id: int) -> Response:
    page = _page(page_id)
    path = request.args.get("path", "")
    reading = page.reading or {}
    if path in reading.get("sensitive_paths", []):
        code = _service_of(page)
        if code is None or not can(current_user, "read_sensitive_answers", code):
            abort(403)
    digest = (reading.get("crop_files") or {}).get(path)
    data = load_png(digest) if digest else None
    if data is not None:
        _log_scan_read([page], {"scan_page": page.id, "token": page.token, "crop": path[:100]})
    return _png(data)


# -- document review and confirmation --------------------------------------------------------------

def _blank(value: Any) -> bool:
    return value is None or value == "" or value == []


def withhold_sensitive(defn: s.ServiceDefinition, answers: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split machine-read raw ``answers`` into what an agent without ``read_sensitive_answers`` may
    see and the sensitive values read on the scan, kept server-side.

    Returns ``(shown, withheld)``: ``shown`` is ``answers`` less every sensitive value (top-level
    fields and group sub-fields); ``withheld`` holds the top-level sensitive fields the machine
    read a value for (their inputs are replaced by a note) and, for groups, the rows as read
    (``{group: [row, ...]}``, only their sensitive sub-fields), for :meth:`ScanEntry.collect` to
    put back.
    """
    names = sensitive_names(defn)
    shown = without_sensitive(defn, answers)
    withheld: dict[str, Any] = {}
    for name, value in answers.items():
        if name in names:
            if not _blank(value):
                withheld[name] = value
            continue
        if isinstance(value, list) and any(k.startswith(f"{name}.") for k in names):
            rows = [{k: v for k, v in row.items() if f"{name}.{k}" in names and not _blank(v)}
                    if isinstance(row, dict) else {} for row in value]
            if any(rows):
                withheld[name] = rows
    return shown, withheld


class ScanEntry(CounterEntry):
    """The counter's one-page entry form, prefilled with the machine-read raw answers.

    ``withheld``: sensitive values read on the scan that the agent may not see (see
    :func:`withhold_sensitive`). They are never sent to the browser; :meth:`collect` merges them
    into the answers typed, so the registration keeps what the family ticked on paper.
    """

    def __init__(self, *args: Any, prefill: Mapping[str, Any] | None = None,
                 withheld: Mapping[str, Any] | None = None, **kwargs: Any):
        self.withheld = dict(withheld or {})
        super().__init__(*args, **kwargs)
        if self.formdata is None and prefill:
            self.shared_form = web.build_form(type(self.shared_form), raw=prefill)
            self.own_forms = {key: web.build_form(type(form), prefix=key, raw=prefill)
                              for key, form in self.own_forms.items()}
            self._decorate()

    @property
    def hidden_names(self) -> set[str]:
        """Top-level fields whose input is replaced by a note (a sensitive value was read and withheld)."""
        return {name for name in self.withheld if not isinstance(self.lookup.get(name), s.GroupField)}

    @property
    def withheld_rows(self) -> dict[str, list[dict[str, Any]]]:
        """Group fields with sensitive sub-answers read and withheld: per row (as read), the
        sub-fields whose input is replaced by a note."""
        return {name: rows for name, rows in self.withheld.items()
                if isinstance(self.lookup.get(name), s.GroupField)}

    def collect(self, store: Store | None) -> dict[str, dict[str, str]]:
        """Read the raw answers typed, with the sensitive values withheld from the agent put back."""
        # Group rows: the form drops blank rows on submit, so the values read go into the row
        # inputs (by row index, as they were prefilled) for the conversion, then leave them, so
        # a page shown again after a refusal does not show them.
        restore: list[tuple[Any, Any]] = []
        for form in (self.shared_form, *self.own_forms.values()):
            for name, rows in self.withheld.items():
                if name in self.hidden_names or name not in form.specs:
                    continue
                subs = {sub.name: sub for sub in self.lookup[name].fields}
                for entry, row in zip(form[name].entries, rows, strict=False):
                    for key, value in row.items():
                        if key not in subs:
                            continue
                        # The page showed a note, not an input: a value posted for it is ignored.
                        bound = entry.form[key]
                        restore.append((bound, bound.data))
                        bound.data = web.data_from_raw([subs[key]], {key: value}).get(key)
        try:
            problems = super().collect(store)
        finally:
            for bound, data in restore:
                bound.data = data
        # Top-level fields had no input at all: the value read is the answer.
        for name in self.hidden_names:
            if name in self.shared_form.specs:
                self.shared_raw[name] = self.withheld[name]
            for key, form in self.own_forms.items():
                if name in form.specs:
                    self.own_raw[key][name] = self.withheld[name]
        return problems


def _document_pages(token: str) -> list[ScanPage]:
    return list(db.session.scalars(
        select(ScanPage).where(ScanPage.document_key == token,
                               ScanPage.status.in_((*PENDING_PAGE_STATUSES, ScanPageStatus.REGISTERED.value)))
        .order_by(ScanPage.page, ScanPage.id)
    ))


def _used_pages(pages: list[ScanPage]) -> list[ScanPage]:
    """One stored page per page number (the first stored)."""
    used: dict[int, ScanPage] = {}
    for page in pages:
        if page.page is not None:
            used.setdefault(page.page, page)
    return [used[n] for n in sorted(used)]


def _crops_by_field(pages: list[ScanPage], sensitive_ok: bool) -> dict[str, list[tuple[int, str]]]:
    """Top-level field name -> (page id, crop path) of its crops."""
    crops: dict[str, list[tuple[int, str]]] = {}
    for page in pages:
        reading = page.reading or {}
        hidden = set() if sensitive_ok else set(reading.get("sensitive_paths", []))
        for path in (reading.get("crop_files") or {}):
            if path not in hidden:
                crops.setdefault(path.partition(".")[0], []).append((page.id, path))
    return crops


@bp.route("/documents/<token>", methods=["GET", "POST"])
@counter_required
def document(token: str) -> Any:
    token = token[:10].upper()
    print_token = db.session.scalar(select(PrintToken).filter_by(token=token))
    if print_token is None:
        abort(404)
    version = print_token.form_version
    service = registry().get(version.service_code)
    if service is None:
        abort(404)
    if not can(current_user, "register_for_any_household", service.code):
        abort(403)
    all_pages = _document_pages(token)
    registered = [p for p in all_pages if p.status == ScanPageStatus.REGISTERED.value]
    if registered:
        return redirect(url_for(".evidence", batch=registered[0].registration_batch))
    pages = _used_pages(all_pages)
    if not pages:
        abort(404)
    defn = definition_of(version)
    layout = stored_layout(version.id)
    readings = [stored_reading(p) for p in pages]
    answers, review = answers_from(readings, layout) if layout else ({}, [])
    machine = document_values(readings, layout) if layout else {}

    household_id = print_token.household_id or request.values.get("household", type=int)
    household = db.session.get(Household, household_id) if household_id else None
    if household is None:
        query = request.args.get("q", "").strip()
        results = search_households(query) if len(query) >= QUERY_MIN else None
        if results is not None:
            log_read(current_user.id, Action.SEARCH, None,
                     {"query": query[:100], "results": len(results), "token": token},
                     households=[h.id for h in results])
        return render_template("intake/pick_household.html", token=token, service=service, query=query,
                               results=results, pages=pages)
    people = candidates(defn, household)
    chosen = _chosen(people, print_token)
    posted = request.method == "POST"
    # The family's data is shown with the scan: the read is logged like the counter's (before a
    # confirmation too: a refused one shows the page again).
    log_read(current_user.id, Action.OPEN_PAPER_FORM, household.id,
             {"token": token, "service": service.code, "form_version_id": version.id,
              "scan_pages": [p.id for p in pages]}, _("Paper form received and scanned"))
    if defn.audience != "household" and not chosen:
        return render_template("intake/pick_household.html", token=token, service=service, query="",
                               results=[household], pages=pages, people=people)
    sensitive_ok = may_read_sensitive(current_user, service.code)
    # Without the permission, sensitive values read on the scan stay on the server: recomputed
    # from the stored readings on every request and merged into the answers on confirmation.
    prefill, withheld = (answers, {}) if sensitive_ok else withhold_sensitive(defn, answers)
    entry = ScanEntry(service, version, household, chosen, "paper",
                      formdata=CombinedMultiDict([request.files, request.form]) if posted else None,
                      prefill=prefill, withheld=withheld)
    # The sessions ticked on the paper (one, several, or the ranked grid), for the agent to check.
    choice = session_choice(service, request.form if posted else None, cells=session_cells(machine))
    if posted:
        result = _confirm(entry, choice, token, pages, machine)
        if isinstance(result, Response):
            return result
    by_path: dict[str, list[dict[str, Any]]] = {}
    for item in review:
        by_path.setdefault(str(item.get("path", "")).partition(".")[0], []).append(item)
    defn_live = service.definition
    return render_template(
        "intake/document.html", entry=entry, household=household, service=service, token=token,
        pages=pages, review=review, review_by_field=by_path,
        crops=_crops_by_field(pages, sensitive_ok), withheld=entry.hidden_names,
        withheld_rows=entry.withheld_rows, choice=choice,
        choice_hint=choice_hint(defn_live) if defn_live.sessions_choice.max > 1 else "",
        error_links=choice.error_links() + entry.error_links(), file_names={},
    ), (422 if posted else 200)


# Engine paths of the printed household and participant blocks, by the form field they fill.
HOUSEHOLD_CROPS = {
    "g1-last_name": "household.last_name", "g1-first_name": "household.first_name",
    "g1-phone": "household.phone", "g1-email": "household.email",
    "address_line1": "household.address_line1", "address_line2": "household.address_line2",
    "postcode": "household.postcode", "city": "household.city",
    "c0-last_name": "participant.last_name", "c0-first_name": "participant.first_name",
    "c0-birth_date": "participant.birth_date", "c0-school": "participant.school",
    "c0-class_name": "participant.class_name",
}


@bp.route("/documents/<token>/foyer", methods=["GET", "POST"])
@counter_required
def new_household(token: str) -> Any:
    """A blank form from an unknown family: the agent types the household from the scan's crops.

    The household (first guardian, address, and the child for a child service) is created with
    the counter's own forms and checks, logged as ``create_household``; the agent then checks
    and confirms the scanned form for it like any other.
    """
    from inscriptions import TOWN_KEY
    from inscriptions.counter.access import REASONS
    from inscriptions.counter.forms import CounterChildForm, CounterGuardianForm, CounterHouseholdForm
    from inscriptions.models import Child, Guardian

    token = token[:10].upper()
    print_token = db.session.scalar(select(PrintToken).filter_by(token=token))
    if print_token is None:
        abort(404)
    service = registry().get(print_token.form_version.service_code)
    if service is None:
        abort(404)
    if not can(current_user, "register_for_any_household", service.code):
        abort(403)
    if print_token.household_id is not None:
        return redirect(url_for(".document", token=token))
    pages = _used_pages(_document_pages(token))
    if not pages:
        abort(404)
    with_child = definition_for(print_token.form_version_id).audience == "child"
    posted = request.method == "POST"
    formdata = request.form.copy() if posted else None
    if formdata is not None and not (formdata.get("c0-last_name") or "").strip():
        formdata["c0-last_name"] = formdata.get("g1-last_name", "")  # as at the counter: the parent's name
    address = CounterHouseholdForm(formdata=formdata)
    guardian = CounterGuardianForm(formdata=formdata, prefix="g1")
    schools = list(current_app.extensions[TOWN_KEY].schools)
    child = CounterChildForm(formdata=formdata, prefix="c0", schools=schools) if with_child else None
    forms = [guardian, address, *([child] if child is not None else [])]
    if posted and all([f.validate() for f in forms]):
        home = Household(address_line1=address.address_line1.data, address_line2=address.address_line2.data or "",
                         postcode=address.postcode.data, city=address.city.data,
                         quotient_familial=address.quotient_familial.data)
        home.guardians.append(Guardian(first_name=guardian.first_name.data, last_name=guardian.last_name.data,
                                       email=guardian.email.data or None, phone=guardian.phone.data or None))
        if child is not None:
            home.children.append(Child(first_name=child.first_name.data, last_name=child.last_name.data,
                                       birth_date=child.birth_date.data, school=child.school_value,
                                       class_name=child.class_name.data or ""))
        db.session.add(home)
        db.session.flush()
        log_access(current_user.id, Action.CREATE_HOUSEHOLD, home.id,
                   {"guardians": [g.id for g in home.guardians], "children": [c.id for c in home.children],
                    "reason_code": "mail", "token": token, "scan_pages": [p.id for p in pages]},
                   str(REASONS["mail"]))
        db.session.commit()
        request_confirmations(home.guardians)  # nothing about the household goes there before
        flash(_("The household is created."), "success")
        person = home.children[0].id if home.children else home.guardians[0].id
        return redirect(url_for(".document", token=token, household=home.id, child=person))
    crops: dict[str, list[tuple[int, str]]] = {}
    for page in pages:
        files = (page.reading or {}).get("crop_files") or {}
        for name, path in HOUSEHOLD_CROPS.items():
            if path in files:
                crops.setdefault(name, []).append((page.id, path))
    failed = posted
    return render_template("intake/new_household.html", token=token, service=service, pages=pages,
                           address=address, guardian=guardian, child=child, crops=crops,
                           failed=failed), (422 if failed else 200)


def _chosen(people: list[Participant], print_token: PrintToken) -> list[Participant]:
    wanted = print_token.child_id or request.values.get("child", type=int)
    if wanted is None and len(people) == 1:
        return people
    return [p for p in people if p.child_id == wanted or p.guardian_id == wanted]


def _confirm(entry: ScanEntry, choice: SessionChoiceForm, token: str, pages: list[ScanPage],
             machine: Mapping[str, Any]) -> Response | None:
    home = entry.household

    def store(fld: s.FileField, storage: Any) -> str:
        return store_upload(home.id, storage, accept=fld.accept, max_size_mb=fld.max_size_mb).token

    # Checked first, but the answers are still read: a page shown again keeps what was typed.
    sessions_ok = choice.validate()
    problems = entry.collect(store)
    if problems:
        entry.apply_upload_errors(problems)
        return None
    if not sessions_ok:
        return None
    batch_ids = sorted({p.batch_id for p in pages})
    note = _("Scanned paper form, scan batch %(n)s", n=", ".join(str(b) for b in batch_ids))
    inputs = entry.inputs()
    try:
        outcome = create_registrations(RegistrationInput(
            service_code=entry.service.code, household_id=home.id, participants=inputs, channel="paper",
            keyed_by_id=current_user.id, **choice.booking(), form_version_id=entry.version.id,
            note=note, idempotency_key=f"scan:{token}", received_on=pages[0].batch.uploaded_at.date(),
            mediation_reason=_("Paper form received and scanned"),
        ))
    except RegistrationRefused as refused:
        entry.apply_refusal(refused)
        return None
    now = utcnow_naive()
    confirmed = {"participants": [dict(p.answers) for p in inputs], "wishes": choice.wishes}
    document_pages = _document_pages(token)
    for page in document_pages:
        if page.status in PENDING_PAGE_STATUSES or page.status == ScanPageStatus.REGISTERED.value:
            page.status = ScanPageStatus.REGISTERED.value
            page.registration_batch = outcome.batch
            page.confirmed_by_id = current_user.id
            page.confirmed_at = now
            page.machine_values = dict(machine)
            page.confirmed_values = confirmed
    # A blank form is the family's from now on: its images go with the household's erasure.
    link_pages(document_pages, home.id)
    if not outcome.replayed:
        detail = {"service": entry.service.code, "channel": "paper", "batch": outcome.batch,
                  "token": token, "scan_pages": [p.id for p in pages]}
        for reg_id in outcome.registration_ids:
            log_access(current_user.id, Action.REGISTER, home.id, detail,
                       _("Paper form received and scanned"), registration_id=reg_id)
        if outcome.pending:
            # Allocation by the worker: no registration yet; the act is logged with the application.
            log_access(current_user.id, Action.REGISTER, home.id,
                       {**detail, "application_id": outcome.application_id, "pending": True},
                       _("Paper form received and scanned"))
    db.session.commit()
    if outcome.pending:
        flash(_("The scanned form is recorded: the places are being allocated."), "success")
    else:
        flash(_("The scanned form is registered."), "success")
    return redirect(url_for(".evidence", batch=outcome.batch))


@bp.get("/preuves/<batch>")
@counter_required
def evidence(batch: str) -> str:
    """A registration's scan evidence: pages, hashes, machine-read and confirmed values, who confirmed;
    and the application's outcome per session (while the allocator has not decided, the page
    reloads itself every few seconds)."""
    batch = batch[:32]
    regs = list(db.session.scalars(select(Registration).filter_by(batch=batch).order_by(Registration.id)))
    pages = list(db.session.scalars(select(ScanPage).filter_by(registration_batch=batch).order_by(ScanPage.page)))
    if not regs and not pages:
        abort(404)
    code = regs[0].service_code if regs else _service_of(pages[0])
    if code is None or not can(current_user, "read_any_registration", code):
        abort(403)
    # Read values of sensitive questions (health, PAI) only for the roles allowed to read them.
    hidden: set[str] = set()
    confirmed = dict(((pages[0].confirmed_values or {}).get("participants") or [{}])[0]) if pages else {}
    version = regs[0].form_version if regs else db.session.get(FormVersion, pages[0].form_version_id or 0)
    if version is not None and not may_read_sensitive(current_user, code):
        defn = definition_of(version)
        hidden = {path for page in pages for path in (page.machine_values or {}) if hides_path(defn, path)}
        confirmed = without_sensitive(defn, confirmed)
    application = db.session.scalar(select(Application).filter_by(batch=batch))
    state = application_status(application) if application is not None else None
    log_read(current_user.id, Action.READ_SCAN, None,
             {"batch": batch, "service": code, "registrations": [r.id for r in regs],
              "scan_pages": [p.id for p in pages]},
             households=[r.household_id for r in regs] + page_households(pages))
    return render_template("intake/evidence.html", batch=batch, registrations=regs, pages=pages,
                           hidden_paths=hidden, confirmed=confirmed, state=state,
                           refresh_seconds=REFRESH_SECONDS)


@bp.app_template_global("has_scan_evidence")
def has_scan_evidence(registration: Registration) -> bool:
    """Whether a registration was made from scanned pages (the counter links to them)."""
    return db.session.scalar(
        select(ScanPage.id).filter_by(registration_batch=registration.batch).limit(1)
    ) is not None


@bp.get("/registrations/<reference>")
@counter_required
def registration_evidence(reference: str) -> Any:
    """The scan evidence of registration ``reference`` (link from the registration's page)."""
    reg = db.session.scalar(select(Registration).filter_by(reference=reference[:40]))
    if reg is None:
        abort(404)
    # The evidence page's own check, made before redirecting: the Location header would
    # otherwise hand the scan batch id to staff of another service (then refused there).
    if not can(current_user, "read_any_registration", reg.service_code):
        abort(403)
    return redirect(url_for(".evidence", batch=reg.batch))


# -- manual queue ----------------------------------------------------------------------------------

@bp.get("/manuel")
@counter_required
def manual() -> str:
    pages = db.session.scalars(
        select(ScanPage).where(ScanPage.status == ScanPageStatus.MANUAL.value).order_by(ScanPage.id)
    ).all()
    return render_template("intake/manual.html", pages=[p for p in pages if _may_see(p)], errors={})


@bp.post("/pages/<int:page_id>/code")
@counter_required
def assign_code(page_id: int) -> Any:
    """The agent read the code printed under the QR code: the page joins its document."""
    page = _page(page_id)
    if page.status != ScanPageStatus.MANUAL.value:
        abort(409)
    text = request.form.get("code", "").strip()[:80]
    try:
        ref = tokens.find_by_human_code(text)
    except tokens.PaperCodeError as exc:
        pages = db.session.scalars(select(ScanPage).where(ScanPage.status == ScanPageStatus.MANUAL.value)).all()
        return render_template("intake/manual.html", pages=[p for p in pages if _may_see(p)],
                               errors={page.id: str(exc) or _("This code is not valid.")}), 422
    service_code = ref.token.form_version.service_code
    if not can(current_user, "register_for_any_household", service_code):
        abort(403)
    taken = db.session.scalar(select(ScanPage).where(
        ScanPage.token == ref.token.token, ScanPage.page == ref.page, ScanPage.id != page.id,
        ScanPage.status.in_((*PENDING_PAGE_STATUSES, ScanPageStatus.REGISTERED.value))))
    reading = dict(page.reading or {})
    reading.update(token=ref.token.token, page=ref.page, total=ref.token.pages,
                   form_version_id=ref.token.form_version_id, service_code=service_code,
                   household_id=ref.token.household_id, child_id=ref.token.child_id, status="review")
    page.reading = reading
    page.token, page.page, page.total = ref.token.token, ref.page, ref.token.pages
    page.form_version_id = ref.token.form_version_id
    page.document_key = ref.token.token
    # A form printed for a family: the page is theirs (its erasure reaches it).
    link_pages([page], ref.token.household_id)
    if taken is not None:
        page.status = ScanPageStatus.DUPLICATE.value
        page.reason = "duplicate"
        page.message = _("This page was already scanned (batch %(n)s): it is kept but not used.", n=taken.batch_id)
        db.session.commit()
        flash(page.message, "warning")
        return redirect(url_for(".manual"))
    page.status = ScanPageStatus.REVIEW.value
    page.reason = "manual_code"
    page.message = _("Identified by the code typed by an agent: every answer is keyed by hand.")
    db.session.commit()
    return redirect(url_for(".document", token=ref.token.token))


@bp.post("/pages/<int:page_id>/rejeter")
@counter_required
def reject(page_id: int) -> Any:
    page = _page(page_id)
    if page.status not in (ScanPageStatus.MANUAL.value, *PENDING_PAGE_STATUSES):
        abort(409)
    why = request.form.get("reason", "").strip()[:500]
    if not why:
        pages = db.session.scalars(select(ScanPage).where(ScanPage.status == ScanPageStatus.MANUAL.value)).all()
        return render_template("intake/manual.html", pages=[p for p in pages if _may_see(p)],
                               errors={page.id: _("Say why the page is rejected.")}), 422
    page.status = ScanPageStatus.REJECTED.value
    page.reason = why
    page.confirmed_by_id = current_user.id
    page.confirmed_at = utcnow_naive()
    db.session.commit()
    flash(_("The page is set aside."), "success")
    return redirect(url_for(".manual"))
