"""The counter: agents find a family, open its file (with a reason), create a household, and key
a form on the family's behalf (counter, paper, phone or letter) through the same booking function
as the web.

Every page works without JavaScript and with the keyboard alone: the first field has the focus,
Enter submits, choices are native radio buttons and checkboxes, dates are typed (``01032018``).
Every read of a household's file or of a registration, and every creation, is written to the
audit log (:mod:`inscriptions.audit`).
"""

from __future__ import annotations

import io
import re
import secrets
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    session,
    url_for,
)
from flask_babel import format_date
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from werkzeug.datastructures import CombinedMultiDict, MultiDict
from werkzeug.wrappers import Response

from inscriptions import TOWN_KEY
from inscriptions.allocation.status import application_status
from inscriptions.audit import Action, log_access, log_read
from inscriptions.auth.accounts import safe_next
from inscriptions.backoffice.views import document_link
from inscriptions.counter import access
from inscriptions.counter.access import counter_required, has_counter_access
from inscriptions.counter.entry import CounterEntry
from inscriptions.counter.forms import (
    CHILD_LINES,
    CHILD_LINES_MAX,
    COUNTER_CHANNELS,
    AccessReasonForm,
    CounterChildForm,
    CounterGuardianForm,
    CounterHouseholdForm,
    EntrySetupForm,
    SessionChoiceForm,
    choice_hint,
    is_blank,
    session_choice,
    today,
)
from inscriptions.counter.search import QUERY_MIN, install_sqlite_fold, search_households
from inscriptions.definitions import schema as s
from inscriptions.definitions.loader import LoadedService
from inscriptions.definitions.registry import current_version, definition_for, definition_of, registry
from inscriptions.digits import is_digits
from inscriptions.eligibility import eligibility_problems
from inscriptions.extensions import db
from inscriptions.family.email_confirmation import request_confirmations
from inscriptions.forms import web
from inscriptions.models import Application, Child, FormVersion, Guardian, Household, Outcome, Registration
from inscriptions.paper import tokens
from inscriptions.permissions import can
from inscriptions.portal import catalogue
from inscriptions.portal.views import status_label
from inscriptions.portal.wizard import Participant, candidates
from inscriptions.pricing import euros
from inscriptions.privacy.sensitive import answer_pages_for
from inscriptions.registrations.create import RegistrationInput, RegistrationRefused, create_registrations
from inscriptions.registrations.participants import household_view
from inscriptions.uploads import store_upload

bp = Blueprint("counter", __name__, url_prefix="/guichet")
# SQLite has no accent folding of its own: the search gets one on each connection.
bp.record_once(lambda state: install_sqlite_fold(state.app))

PAPER_KEY = "counter_paper"
# Seconds between reloads of a confirmation page waiting for the allocator (<meta> refresh).
REFRESH_SECONDS = 3
KEY_PATTERN = re.compile(r"^[0-9a-f]{32}$")


# -- template helpers ------------------------------------------------------------------------------

def counter_input_attributes(field: Any) -> dict[str, str]:
    """:func:`web.input_attributes`, with dates and numbers typed as text (no picker, no spinner).

    Agents type ``01032018`` faster than they can use a date picker, and a number input changes
    its value with the arrow keys; the one validation function reads every usual date format.
    """
    attrs = web.input_attributes(field)
    if field.spec.type in ("date", "integer"):
        attrs.pop("min", None)
        attrs.pop("max", None)
        attrs.pop("step", None)
        attrs.update({"type": "text", "inputmode": "numeric", "autocomplete": "off"})
    return attrs


@bp.app_context_processor
def _nav() -> dict[str, Any]:
    # Called by base.html only for signed-in users, at most one grants query per request.
    def counter_access() -> bool:
        cached = getattr(request, "_counter_access", None)
        if cached is None:
            cached = request._counter_access = has_counter_access(current_user)  # type: ignore[attr-defined]
        return bool(cached)

    return {"counter_access": counter_access}


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {
        "input_attributes": counter_input_attributes,
        "status_label": status_label,
        "euros": euros,
        "per_unit": catalogue.per_unit,
        "stamp": catalogue.stamp,
        "channel_label": lambda code: str(COUNTER_CHANNELS.get(code, code)),
    }


# -- look-ups --------------------------------------------------------------------------------------

def _household(household_id: int) -> Household:
    household = db.session.get(Household, household_id)
    if household is None:
        abort(404)
    return household


def _service(code: str) -> LoadedService:
    service = registry().get(code)
    if service is None:
        abort(404)
    return service


def _services_for_entry() -> list[LoadedService]:
    """The services the agent may key forms for, in the catalogue's order."""
    allowed = access.registrable_services(current_user)
    return [svc for svc in registry().all() if allowed is None or svc.code in allowed]


def _readable(code: str) -> bool:
    return can(current_user, "read_any_registration", code)


def _gate(household_id: int) -> Any:
    """The access grant for this household, or the redirect to the page asking the reason."""
    grant = access.access_grant(household_id)
    if grant is not None:
        return grant
    target = request.full_path.rstrip("?") if request.method == "GET" else None
    return redirect(url_for(".reason", household_id=household_id, next=target))


def _fresh(grant: Any) -> bool:
    """Whether this request follows the reason form that just logged the read (log it once)."""
    return session.pop(access.FRESH_KEY, None) == grant.id


# -- home: search and form codes -------------------------------------------------------------------

@bp.get("/")
@counter_required
def home() -> str:
    query = request.args.get("q", "").strip()
    results: list[Household] | None = None
    query_error = None
    if "q" in request.args:
        if len(query) < QUERY_MIN:
            query_error = _("Type at least %(n)s characters.", n=QUERY_MIN)
        else:
            results = search_households(query)
            log_read(current_user.id, Action.SEARCH, None, {"query": query[:100], "results": len(results)},
                     households=[h.id for h in results])
    return render_template(
        "counter/home.html",
        query=query,
        results=results,
        query_error=query_error,
        code=request.args.get("code", ""),
        code_error=None,
        pending=_pending_paper(),
    )


@bp.get("/code")
@counter_required
def open_code() -> Any:
    """Open the entry form of a paper form from the code under its QR code (typed or scanned)."""
    text = request.args.get("code", "").strip()[:80]
    error = None
    ref = None
    if not text:
        error = _("Type the code printed under the QR code of the paper form.")
    else:
        try:
            if text.upper().startswith(tokens.SCHEME + "-"):
                ref = tokens.parse_payload(text.upper())
            else:
                ref = tokens.find_by_human_code(text)
        except tokens.PaperCodeError as exc:
            error = str(exc)
    if ref is not None:
        version = ref.token.form_version
        service = registry().get(version.service_code)
        if service is None:
            error = _("This form belongs to a service that no longer exists.")
        elif not can(current_user, "register_for_any_household", service.code):
            error = _("This form is for “%(service)s”: you are not allowed to key forms for this service.",
                      service=service.definition.name)
        else:
            log_read(current_user.id, Action.OPEN_PAPER_FORM, ref.token.household_id,
                     {"token": ref.token.token, "page": ref.page, "service": service.code,
                      "form_version_id": version.id})
            if ref.token.household_id is not None:
                args: dict[str, Any] = {"version": version.id, "channel": "paper"}
                if ref.token.child_id is not None:
                    args["child"] = ref.token.child_id
                return redirect(url_for(".entry", household_id=ref.token.household_id, code=service.code, **args))
            session[PAPER_KEY] = {"version": version.id, "service": service.code,
                                  "code": tokens.human_code(ref.token.token, ref.page)}
            flash(_("Blank paper form for “%(service)s”: find the family (or create its household), "
                    "then key the form from its file.", service=service.definition.name), "info")
            return redirect(url_for(".home"))
    return render_template(
        "counter/home.html", query="", results=None, query_error=None, code=text, code_error=error,
        pending=_pending_paper(),
    ), 422


@bp.post("/code/oublier")
@counter_required
def forget_code() -> Response:
    session.pop(PAPER_KEY, None)
    return redirect(url_for(".home"))


def _pending_paper() -> dict[str, Any] | None:
    """The blank paper form the agent opened by its code and has not keyed yet."""
    data = session.get(PAPER_KEY)
    if not isinstance(data, dict):
        return None
    service = registry().get(str(data.get("service")))
    if service is None or not can(current_user, "register_for_any_household", service.code):
        return None
    return {**data, "name": service.definition.name}


# -- opening a household's file --------------------------------------------------------------------

@bp.route("/foyers/<int:household_id>/acces", methods=["GET", "POST"])
@counter_required
def reason(household_id: int) -> Any:
    household = _household(household_id)
    next_url = safe_next(request.args.get("next"))
    form = AccessReasonForm()
    if form.validate_on_submit():
        grant = access.open_household(household.id, form.reason.data, form.detail.data or "")
        session[access.FRESH_KEY] = grant.id
        return redirect(next_url or url_for(".household", household_id=household.id))
    # The page names the household (the agent checks it is the right family): a read of its name.
    log_read(current_user.id, Action.IDENTIFY_HOUSEHOLD, household.id, {"reason_asked": True})
    return render_template("counter/reason.html", household=household, form=form, next_url=next_url)


@bp.get("/foyers/<int:household_id>")
@counter_required
def household(household_id: int) -> Any:
    home = _household(household_id)
    grant = _gate(home.id)
    if isinstance(grant, Response):
        return grant
    regs = list(db.session.scalars(
        select(Registration)
        .where(Registration.household_id == home.id)
        .options(selectinload(Registration.child), selectinload(Registration.session))
        .order_by(Registration.created_at.desc(), Registration.id.desc())
    ))
    shown = [r for r in regs if _readable(r.service_code)]
    if not _fresh(grant):
        log_read(current_user.id, Action.READ_HOUSEHOLD, home.id,
                 {"registrations": [r.id for r in shown]}, grant.reason)
    return render_template(
        "counter/household.html",
        household=home,
        registrations=shown,
        hidden_count=len(regs) - len(shown),
        services=_services_for_entry(),
        service_names={svc.code: svc.definition.name for svc in registry().all()},
        pending=_pending_paper(),
        grant=grant,
    )


# -- a new household ---------------------------------------------------------------------------------

def _schools() -> list[str]:
    return list(current_app.extensions[TOWN_KEY].schools)


@bp.route("/foyers/nouveau", methods=["GET", "POST"])
@counter_required
def new_household() -> Any:
    posted = request.method == "POST"
    lines = CHILD_LINES
    if posted:
        try:
            lines = max(CHILD_LINES, min(int(request.form.get("child_lines", CHILD_LINES)), CHILD_LINES_MAX))
        except ValueError:
            lines = CHILD_LINES
    formdata: MultiDict[str, str] | None = request.form.copy() if posted else None
    if formdata is not None:
        # A child's last name left empty is the first parent's: one field less to type.
        last = (formdata.get("g1-last_name") or "").strip()
        for i in range(lines):
            prefix = f"c{i}-"
            typed = any((formdata.get(prefix + name) or "").strip() for name in ("first_name", "birth_date"))
            if typed and not (formdata.get(prefix + "last_name") or "").strip():
                formdata[prefix + "last_name"] = last
    address = CounterHouseholdForm(formdata=formdata)
    reason = AccessReasonForm(formdata=formdata, prefix="access", meta={"csrf": False})
    if not posted:
        reason.reason.data = "counter"
    first = CounterGuardianForm(formdata=formdata, prefix="g1")
    second = CounterGuardianForm(formdata=formdata, prefix="g2")
    children = [CounterChildForm(formdata=formdata, prefix=f"c{i}", schools=_schools()) for i in range(lines)]

    if posted and request.form.get("_action") == "more":
        lines = min(lines + 1, CHILD_LINES_MAX)
        children.append(CounterChildForm(formdata=None, prefix=f"c{lines - 1}", schools=_schools()))
    elif posted:
        # The optional second guardian and child lines are checked only when something was typed.
        with_second = not is_blank(second)
        filled = [c for c in children if not is_blank(c)]
        forms = [reason, first, address, *([second] if with_second else []), *filled]
        # A list, not a generator: every form is validated, so every error shows at once.
        if all([f.validate() for f in forms]):
            home = _create_household(address, first, second if with_second else None, filled, reason)
            flash(_("The household is created."), "success")
            return redirect(url_for(".household", household_id=home.id))

    parts = [
        (first, _("First parent or guardian")),
        (address, ""),
        (second, _("Second parent or guardian")),
        *((child, _("Child %(n)s", n=i + 1)) for i, child in enumerate(children)),
        (reason, ""),
    ]
    summary = _summary_links(parts)
    return render_template(
        "counter/household_new.html",
        address=address,
        reason=reason,
        first=first,
        second=second,
        children=children,
        lines=len(children),
        summary=summary,
        has_errors=bool(summary),
        can_add_line=len(children) < CHILD_LINES_MAX,
    ), (422 if summary else 200)


def _summary_links(parts: list[tuple[Any, str]]) -> list[web.ErrorLink]:
    """The error summary of several forms shown as one, each line saying whose field it is."""
    links = []
    for form, context in parts:
        for field in form:
            if not field.errors or field.type == "CSRFTokenField":
                continue
            text = _("%(label)s: %(message)s", label=field.label.text, message=" ".join(map(str, field.errors)))
            target = f"{field.id}-0" if field.type == "RadioField" else field.id
            links.append(web.ErrorLink(target, f"{context} – {text}" if context else text))
    return links


def _create_household(
    address: CounterHouseholdForm,
    first: CounterGuardianForm,
    second: CounterGuardianForm | None,
    children: list[CounterChildForm],
    reason: AccessReasonForm,
) -> Household:
    home = Household(
        address_line1=address.address_line1.data,
        address_line2=address.address_line2.data or "",
        postcode=address.postcode.data,
        city=address.city.data,
        quotient_familial=address.quotient_familial.data,
    )
    for form in [first] + ([second] if second is not None else []):
        home.guardians.append(Guardian(
            first_name=form.first_name.data, last_name=form.last_name.data,
            email=form.email.data or None, phone=form.phone.data or None,
        ))
    for form in children:
        home.children.append(Child(
            first_name=form.first_name.data, last_name=form.last_name.data, birth_date=form.birth_date.data,
            school=form.school_value, class_name=form.class_name.data or "",
        ))
    db.session.add(home)
    db.session.flush()
    event = log_access(
        current_user.id, Action.CREATE_HOUSEHOLD, home.id,
        {"guardians": [g.id for g in home.guardians], "children": [c.id for c in home.children],
         "reason_code": reason.reason.data},
        access.reason_text(reason.reason.data, reason.detail.data or ""),
    )
    db.session.commit()
    request_confirmations(home.guardians)  # nothing about the household goes there before
    # The agent who created the file may read it without being asked why again.
    access.remember(home.id, event.id)
    session[access.FRESH_KEY] = event.id
    return home


# -- keying a form -------------------------------------------------------------------------------------

def _version(service: LoadedService, wanted: str | None) -> FormVersion:
    """The form version printed on the paper (``wanted``), or the current one."""
    if wanted:
        try:
            version = db.session.get(FormVersion, int(wanted))
        except ValueError:
            version = None
        if version is None or version.service_code != service.code:
            abort(404)
        return version
    version = current_version(service)
    db.session.commit()
    return version


def _participant_label(person: Participant) -> str:
    born = person.view.birth_date
    if born is None:
        return person.full_name
    return _("%(name)s, born on %(day)s", name=person.full_name, day=format_date(born, "long"))


def _one_time_key() -> str:
    """The submission's key: kept from the posted form (a double submit sends it twice)."""
    key = request.form.get("_key", "")
    return key if KEY_PATTERN.match(key) else secrets.token_hex(16)


@bp.route("/foyers/<int:household_id>/saisie/<code>", methods=["GET", "POST"])
@counter_required
def entry(household_id: int, code: str) -> Any:
    home = _household(household_id)
    service = _service(code)
    if not can(current_user, "register_for_any_household", service.code):
        abort(403)
    grant = _gate(home.id)
    if isinstance(grant, Response):
        return grant
    posted = request.method == "POST"
    step = request.form.get("_step") if posted else None
    version = _version(service, request.form.get("setup-version") if posted else request.args.get("version"))
    # The pages show the household's people (and the form keyed for them); a submit is logged as
    # the registration itself, or as a read when the form comes back to be corrected.
    if not _fresh(grant) and step != "entry":
        _log_entry_read(home.id, service.code, version.id, grant)
    defn = definition_of(version)
    hview = household_view(home)
    people = candidates(defn, home)
    problems = {p.key: eligibility_problems(defn, service.hooks, hview, p.view) for p in people}
    general = eligibility_problems(defn, service.hooks, hview, None) if defn.audience == "household" else []
    setup = EntrySetupForm(
        formdata=request.form if posted else None,
        prefix="setup",
        participants=[(p.key, _participant_label(p)) for p in people if not problems[p.key]],
        data=None if posted else _setup_defaults(grant, version, people, problems),
    )
    # Sessions, booking rules and how many to choose are the service's current ones (as in
    # create_registrations), whatever the version printed on the paper.
    choice = session_choice(service, request.form if posted else None)
    # The version travels with the form: a paper printed from an older version is keyed with it.
    setup.version.data = str(version.id)
    window = catalogue.window(service.definition, home)
    # A list, not ``and``: both forms are checked, so every error shows at once.
    if step in ("setup", "entry") and all([setup.validate(), choice.validate()]):
        chosen = [p for p in people if p.key in (setup.participant.data or [])]
        channel = setup.channel.data
        if step == "setup":
            entry_form = CounterEntry(service, version, home, chosen, channel)
            return _render_entry(entry_form, setup, choice, key=secrets.token_hex(16), focus=True)
        entry_form = CounterEntry(service, version, home, chosen, channel,
                                  formdata=CombinedMultiDict([request.files, request.form]))
        return _submit_entry(entry_form, setup, choice, grant)
    return render_template(
        "counter/setup.html",
        household=home,
        service=service,
        defn=defn,
        version=version,
        current_version_id=current_version(service).id,
        setup=setup,
        choice=choice,
        choice_hint=choice_hint(service.definition) if service.definition.sessions_choice.max > 1 else "",
        people=people,
        problems=problems,
        general=general,
        window=window,
        has_errors=posted and (bool(setup.errors) or any(f.errors for f in choice.fields)),
    )


def _log_entry_read(household_id: int, service_code: str, version_id: int, grant: Any) -> None:
    log_read(current_user.id, Action.READ_HOUSEHOLD, household_id,
             {"service": service_code, "form_version_id": version_id}, grant.reason)


def _setup_defaults(grant: Any, version: FormVersion, people: list[Participant],
                    problems: dict[str, list[str]]) -> dict[str, Any]:
    channel = request.args.get("channel", "counter")
    selectable = [p.key for p in people if not problems[p.key]]
    child = request.args.get("child", "")
    chosen = [f"c{child}"] if is_digits(child) and f"c{child}" in selectable else []
    if not chosen and len(selectable) == 1:
        chosen = selectable
    return {
        "participant": chosen,
        "channel": channel if channel in COUNTER_CHANNELS else "counter",
        "received_on": today().strftime("%d/%m/%Y"),
        "mediation_reason": grant.reason,
        "version": str(version.id),
    }


def _render_entry(entry_form: CounterEntry, setup: EntrySetupForm, choice: SessionChoiceForm, *, key: str,
                  focus: bool, status: int = 200) -> tuple[str, int]:
    links = entry_form.error_links()
    if focus and not links and not entry_form.general:
        _focus_first(entry_form)
    return render_template(
        "counter/entry.html",
        entry=entry_form,
        household=entry_form.household,
        service=entry_form.service,
        setup=setup,
        choice=choice,
        key=key,
        error_links=links,
        file_names={},
    ), status


def _focus_first(entry_form: CounterEntry) -> None:
    """``autofocus`` on the first question (its first box or radio button for a choice)."""
    for section in entry_form.sections:
        for block in section.blocks:
            for name in block.names:
                bound = block.form[name]
                while hasattr(bound, "entries"):  # a group: its first line's first field
                    if not bound.entries:
                        return
                    bound = next(iter(bound.entries[0].form))
                if hasattr(bound, "option_widget"):
                    bound.option_widget = _FirstOption(bound.option_widget)
                else:
                    bound.render_kw = {**(bound.render_kw or {}), "autofocus": True}
                return


class _FirstOption:
    """An option widget that puts ``autofocus`` on the first radio button or box of a list."""

    def __init__(self, widget: Any):
        self.widget = widget

    def __call__(self, field: Any, **kwargs: Any) -> Any:
        if field.id.endswith("-0"):
            kwargs.setdefault("autofocus", True)
        return self.widget(field, **kwargs)


def _submit_entry(entry_form: CounterEntry, setup: EntrySetupForm, choice: SessionChoiceForm, grant: Any) -> Any:
    home = entry_form.household
    service = entry_form.service

    def store(fld: s.FileField, storage: Any) -> str:
        return store_upload(home.id, storage, accept=fld.accept, max_size_mb=fld.max_size_mb).token

    key = _one_time_key()
    upload_errors = entry_form.collect(store)
    db.session.commit()  # files stored are kept even if the answers need fixing
    if upload_errors:
        entry_form.apply_upload_errors(upload_errors)
        _log_entry_read(home.id, service.code, entry_form.version.id, grant)
        return _render_entry(entry_form, setup, choice, key=key, focus=False, status=422)
    mediation = setup.mediation_reason.data or ""
    try:
        outcome = create_registrations(RegistrationInput(
            service_code=service.code,
            household_id=home.id,
            participants=entry_form.inputs(),
            channel=setup.channel.data,
            keyed_by_id=current_user.id,
            **choice.booking(),
            form_version_id=entry_form.version.id,
            note=mediation,
            idempotency_key=f"counter:{current_user.id}:{key}",
            received_on=setup.received_day,
            mediation_reason=mediation,
        ))
    except RegistrationRefused as refused:
        entry_form.apply_refusal(refused)
        _log_entry_read(home.id, service.code, entry_form.version.id, grant)
        return _render_entry(entry_form, setup, choice, key=key, focus=False, status=422)
    if not outcome.replayed:
        detail = {"service": service.code, "channel": setup.channel.data, "batch": outcome.batch,
                  "form_version_id": entry_form.version.id}
        for reg_id in outcome.registration_ids:
            log_access(current_user.id, Action.REGISTER, home.id, detail, mediation or grant.reason,
                       registration_id=reg_id)
        if outcome.pending:
            # Allocation by the worker: no registration exists yet. The agent's act is logged
            # now, with the application (its registrations will carry the same batch).
            log_access(current_user.id, Action.REGISTER, home.id,
                       {**detail, "application_id": outcome.application_id, "pending": True},
                       mediation or grant.reason)
        pending = session.get(PAPER_KEY)
        if isinstance(pending, dict) and pending.get("version") == entry_form.version.id:
            session.pop(PAPER_KEY, None)
        db.session.commit()
    return redirect(url_for(".confirmation", household_id=home.id, batch=outcome.batch))


@bp.get("/foyers/<int:household_id>/lot/<batch>")
@counter_required
def confirmation(household_id: int, batch: str) -> Any:
    """The booking's outcome; while the allocator has not decided (``ALLOCATION=worker``), the
    application's place in the queue, and the page reloads itself until the decision."""
    home = _household(household_id)
    application = db.session.scalar(select(Application).filter_by(batch=batch[:32], household_id=home.id))
    regs = list(db.session.scalars(
        select(Registration).filter_by(batch=batch[:32], household_id=home.id).order_by(Registration.id)
    ))
    code = application.service_code if application is not None else (regs[0].service_code if regs else None)
    if code is None or not _readable(code):
        abort(404)
    service = registry().get(code)
    state = application_status(application) if application is not None else None
    if not regs and (state is None or (not state.pending and not state.results)):
        abort(404)
    grant = access.access_grant(home.id)
    log_read(current_user.id, Action.READ_REGISTRATION, home.id,
             {"batch": batch[:32], "service": code, "registrations": [r.id for r in regs]},
             grant.reason if grant is not None else "")
    positions = {line.registration_id: line.waitlist_position
                 for result in (state.results if state else []) for line in result.lines}
    return render_template(
        "counter/confirmation.html",
        household=home,
        registrations=regs,
        state=state,
        refused=[r for r in state.results if r.outcome == Outcome.REFUSED] if state else [],
        positions=positions,
        refresh_seconds=REFRESH_SECONDS,
        service_name=service.definition.name if service else code,
        total=sum((r.price for r in regs), Decimal("0.00")),
        letter=bool(regs) and _letter_kind(regs[0]) is not None,
    )


# -- a registration ------------------------------------------------------------------------------------

def _registration(reference: str) -> Registration:
    reg = db.session.scalar(select(Registration).filter_by(reference=reference[:20].upper()))
    # An anonymised registration (RGPD purge) belongs to no household: nothing to open.
    if reg is None or reg.household_id is None or not _readable(reg.service_code):
        # A registration of a service the agent does not serve answers like one that does not exist.
        abort(404)
    return reg


@bp.get("/inscriptions/<reference>")
@counter_required
def registration(reference: str) -> Any:
    reg = _registration(reference)
    grant = _gate(reg.household_id)
    if isinstance(grant, Response):
        return grant
    _fresh(grant)
    defn = definition_for(reg.form_version_id)
    pages, sensitive = answer_pages_for(current_user, reg)
    log_read(current_user.id, Action.READ_REGISTRATION, reg.household_id,
             {"reference": reg.reference, "service": reg.service_code, "sensitive_shown": sensitive},
             grant.reason, registration_id=reg.id)
    service = registry().get(reg.service_code)
    return render_template(
        "counter/registration.html",
        registration=reg,
        service_name=service.definition.name if service else defn.name,
        pages=pages,
        sensitive_hidden=not sensitive and any(f.sensitive for _i, f in defn.iter_fields()),
        letter=_letter_kind(reg) is not None,
        # The files sent are opened through the back office (its checks and its log), by those
        # who may review this service; others see their names only.
        document_link=document_link(reg) if can(current_user, "review_registrations", reg.service_code)
        else (lambda _token: ""),
    )


def _letter_kind(reg: Registration) -> str | None:
    """The kind of letter this registration's status calls for (None: no letter for it)."""
    from inscriptions.paper.letters import KINDS

    return next((kind for status, kind in KINDS.items() if status == reg.status), None)


@bp.get("/inscriptions/<reference>/courrier.pdf")
@counter_required
def letter(reference: str) -> Response:
    """The letter telling the family the outcome of this booking (for households without e-mail)."""
    from inscriptions.paper.letters import Letter, render_letters

    reg = _registration(reference)
    if _letter_kind(reg) is None:
        abort(404)
    grant = _gate(reg.household_id)
    if isinstance(grant, Response):
        return grant
    _fresh(grant)
    regs = list(db.session.scalars(
        select(Registration).filter_by(batch=reg.batch, household_id=reg.household_id, status=reg.status)
        .order_by(Registration.id)
    ))
    regs = [r for r in regs if _readable(r.service_code)]
    log_read(current_user.id, Action.PRINT_LETTER, reg.household_id,
             {"references": [r.reference for r in regs]}, grant.reason, registration_id=reg.id)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "letter.pdf"
        render_letters([Letter(reg.household, regs)], path)
        data = path.read_bytes()
    response = send_file(io.BytesIO(data), mimetype="application/pdf", as_attachment=False,
                         download_name=f"courrier-{reg.reference}.pdf", max_age=0)
    response.headers["Cache-Control"] = "private, no-store"
    return response
