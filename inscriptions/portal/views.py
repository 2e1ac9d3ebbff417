"""The parents' portal: services, the registration form, my registrations, cancelling.

Everything works without JavaScript: each step is a plain form posted to the server, answers are
saved in a draft at every step (going back loses nothing), and every check is made by the one
validation function. URLs carrying a token or reference of another household answer 404.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.orm import joinedload
from werkzeug.datastructures import CombinedMultiDict
from werkzeug.wrappers import Response

from inscriptions import clock
from inscriptions.allocation import explain
from inscriptions.allocation.draw import ALGORITHM as draw_algorithm
from inscriptions.allocation.draws import drawn_order, published_draw
from inscriptions.allocation.status import application_status
from inscriptions.definitions import schema as s
from inscriptions.definitions.loader import LoadedService
from inscriptions.definitions.registry import current_version, definition_for, registry
from inscriptions.eligibility import eligibility_problems
from inscriptions.extensions import db
from inscriptions.forms import web
from inscriptions.models import Application, Draft, Household, Registration, ServiceSession, Status
from inscriptions.notifications import household_emails
from inscriptions.plugin_api import Price
from inscriptions.portal import catalogue, choices
from inscriptions.portal.applications import prepared_for
from inscriptions.portal.wizard import Participant, Wizard, candidates, new_state, state_wishes
from inscriptions.pricing import compute_price, euros
from inscriptions.privacy.sealing import unsealed
from inscriptions.registrations import waitlist
from inscriptions.registrations.cancel import (
    CancellationRefused,
    can_cancel,
    cancel_registration,
    cancellation_refusal,
)
from inscriptions.registrations.create import RegistrationInput, RegistrationRefused, create_registrations
from inscriptions.registrations.participants import household_view
from inscriptions.registrations.status import active_statuses, status_label
from inscriptions.registrations.windows import opening_for
from inscriptions.uploads import download_response, find_upload, store_upload, uploads_by_token

bp = Blueprint("portal", __name__)

TOKEN_LENGTH = 32


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {
        "euros": euros,
        "per_unit": catalogue.per_unit,
        "input_attributes": web.input_attributes,
        "status_label": status_label,
        "stamp": catalogue.stamp,
        "moment_text": waitlist.moment_text,
    }


# -- lookups that 404 on anything foreign ---------------------------------------------------------

def _service(code: str) -> LoadedService:
    service = registry().get(code)
    if service is None:
        abort(404)
    return service


def _household() -> Household:
    household = current_user.household
    if household is None:
        # Staff accounts have no household: the portal is for families.
        abort(403)
    return household


def _own_draft(token: str) -> Draft:
    if len(token) > TOKEN_LENGTH:
        abort(404)
    draft = db.session.scalar(select(Draft).filter_by(token=token, account_id=current_user.id))
    if draft is None:
        abort(404)
    return draft


def _wizard(token: str) -> Wizard:
    draft = _own_draft(token)
    return Wizard(draft, _household(), _service(draft.service_code))


def _own_registration(reference: str) -> Registration:
    household = _household()
    registration = db.session.scalar(
        select(Registration).filter_by(reference=reference[:20], household_id=household.id)
    )
    if registration is None:
        abort(404)
    return registration


def _service_name(code: str, registration: Registration | None = None) -> str:
    service = registry().get(code)
    if service is not None:
        return service.definition.name
    return definition_for(registration.form_version_id).name if registration is not None else code


# -- services -------------------------------------------------------------------------------------

@bp.get("/")
def index() -> str:
    items = [(service, catalogue.window(service.definition)) for service in registry().all()]
    return render_template("portal/index.html", items=items)


@bp.get("/services/<code>")
def service(code: str) -> str:
    svc = _service(code)
    defn = svc.definition
    return render_template(
        "portal/service.html",
        service=svc,
        defn=defn,
        window=catalogue.window(defn),
        who=catalogue.audience_text(defn),
        prices=catalogue.price_grid(defn),
        sessions=catalogue.sessions_of(svc),
        opening=catalogue.when(defn.opening),
        closing=catalogue.when(defn.closing),
        draw=published_draw(defn.code) if defn.allocation.uses_draw else None,
        allocation=allocation_text(defn),
    )


@bp.get("/services/<code>/tirage")
def draw_page(code: str) -> str:
    """The service's draw, public (CRPA L312-1-3): the rule, the seed's fingerprint, and once drawn
    the seed and every drawn rank by application number, with how to recompute them."""
    svc = _service(code)
    defn = svc.definition
    if not defn.allocation.uses_draw:
        abort(404)
    found = published_draw(defn.code)
    return render_template(
        "portal/draw.html", service=svc, defn=defn, draw=found, algorithm=draw_algorithm,
        allocation=allocation_text(defn),
        order=drawn_order(defn.code, defn.reference_prefix) if found and found.seed else [],
    )


def allocation_text(defn: s.ServiceDefinition) -> dict[str, object]:
    """The words of the allocation rule for the service page and the rules page."""
    return {"summary": explain.rule_summary(defn), "criteria": explain.criteria_lines(defn),
            "weights": explain.weights_lines(defn), "rule": defn.allocation.rule, "when": explain.when(defn)}


# -- step 1: who and when ---------------------------------------------------------------------------

@dataclass
class Choice:
    """A person the family may tick on the first step, and why they cannot, if so."""

    participant: Participant
    problems: list[str] = field(default_factory=list)

    @property
    def enabled(self) -> bool:
        return not self.problems


def _active_registrations(service_code: str, household_id: int) -> list[Registration]:
    return list(db.session.scalars(
        select(Registration).where(
            Registration.service_code == service_code,
            Registration.household_id == household_id,
            Registration.status.in_(active_statuses()),
        )
    ))


def _registered_keys(regs: list[Registration], session_id: int | None) -> set[str]:
    keys = set()
    for reg in regs:
        if reg.session_id != session_id:
            continue
        if reg.child_id is not None:
            keys.add(f"c{reg.child_id}")
        elif reg.guardian_id is not None:
            keys.add(f"g{reg.guardian_id}")
        else:
            keys.add("household")
    return keys


@bp.route("/services/<code>/inscription", methods=["GET", "POST"])
@login_required
def start(code: str) -> Any:
    svc = _service(code)
    defn = svc.definition
    household = _household()
    window = catalogue.window(defn)
    token = request.values.get("brouillon", "")
    draft = _own_draft(token) if token else None
    if draft is not None and (draft.service_code != svc.code or draft.submitted_batch):
        abort(404)

    hview = household_view(household)
    # Before opening, the form is filled in and the application prepared (sent at opening): who may
    # apply is judged as it will be once registration opens for them.
    preparing = window.state == "upcoming"
    residents_only = _("This service is for residents of the town only.")
    general = [residents_only] if defn.eligibility.residents_only and not hview.is_resident else []
    sessions = catalogue.sessions_of(svc)
    session_rows = {row.code: row for row in _session_rows(svc.code)}
    active = _active_registrations(svc.code, household.id)
    people = []
    for person in candidates(defn, household):
        problems = [p for p in _eligibility(svc, hview, person.view, preparing) if p != residents_only]
        if not defn.sessions and person.key in _registered_keys(active, None):
            problems.append(_("Already registered for this service."))
        people.append(Choice(person, problems))
    if defn.audience == "household":
        general += [p for p in _eligibility(svc, hview, None, preparing) if p not in general]
        if not defn.sessions and "household" in _registered_keys(active, None):
            general.append(_("Your household is already registered for this service."))

    mode = choices.mode_of(defn)
    state = draft.state if draft is not None else {}
    selected: list[str] = list(state.get("participants", []))
    wishes = state_wishes(state)
    errors: dict[str, str] = {}
    if request.method == "POST":
        selected = request.form.getlist("participant")
        wishes = choices.read_wishes(mode, request.form)
        errors = _check_start(defn, people, sessions, selected, wishes, active, session_rows)
    # Services taking one session keep it as "session" too (drafts and pages made before wishes).
    chosen_session = wishes[0][0] if wishes and not mode.multiple else None
    if request.method == "POST" and (window.is_open or preparing) and not general and not errors:
        if draft is None:
            draft = Draft(
                token=secrets.token_hex(TOKEN_LENGTH // 2),
                account_id=current_user.id,
                service_code=svc.code,
                form_version_id=current_version(svc).id,
                state=new_state(selected, chosen_session, wishes),
            )
            db.session.add(draft)
        else:
            updated = dict(draft.state)
            if set(selected) - set(updated.get("participants", [])):
                # A newly added child has not answered yet: walk the pages again.
                updated["reached"] = 0
            updated["participants"] = selected
            updated["session"] = chosen_session
            updated["wishes"] = wishes
            draft.state = updated
        db.session.commit()
        return redirect(url_for(".page", token=draft.token, number=1))

    in_progress = [
        (d, _resume_url(d)) for d in db.session.scalars(
            select(Draft)
            .filter_by(account_id=current_user.id, service_code=svc.code, submitted_batch=None)
            .order_by(Draft.updated_at.desc())
            .limit(3)
        )
        if draft is None or d.id != draft.id
    ]
    return render_template(
        "portal/start.html",
        service=svc,
        defn=defn,
        window=window,
        preparing=preparing,
        general=general,
        choices=people,
        sessions=sessions,
        selected=selected,
        chosen_session=chosen_session,
        mode=mode,
        chosen_firsts=[wish[0] for wish in wishes],
        alternative_values=choices.alternative_values(mode, wishes),
        alternative_name=choices.alternative_name,
        rank_label=choices.rank_label,
        errors=_on_shown_fields(mode, sessions, errors),
        draft=draft,
        in_progress=in_progress,
        steps=len(defn.form.pages) + 2,
    )


def _session_rows(service_code: str) -> list[ServiceSession]:
    return list(db.session.scalars(select(ServiceSession).filter_by(service_code=service_code)))


def _check_start(
    defn: s.ServiceDefinition,
    people: list[Choice],
    sessions: list[catalogue.SessionInfo],
    selected: list[str],
    wishes: list[list[str]],
    active: list[Registration],
    session_rows: dict[str, Any],
) -> dict[str, str]:
    """Errors of the first step by field (``participant``, ``session``, alternatives' names)."""
    errors: dict[str, str] = {}
    allowed = {c.participant.key: c for c in people}
    if defn.audience != "household":
        if not selected:
            errors["participant"] = (
                _("Choose at least one child.") if defn.audience == "child" else _("Choose at least one person.")
            )
        elif any(key not in allowed or not allowed[key].enabled for key in selected) or len(set(selected)) != len(
            selected
        ):
            errors["participant"] = _("Choose only people who can register for this service.")
    elif selected:
        errors["participant"] = _("This service registers the whole household.")

    def registered(code: str) -> set[str]:
        row = session_rows.get(code)
        return _registered_keys(active, row.id) if row is not None else set()

    errors.update(choices.check_wishes(
        choices.mode_of(defn), sessions, wishes, registered=registered, selected=selected,
        names={key: c.participant.first_name for key, c in allowed.items()},
        household=defn.audience == "household",
    ))
    return errors


def _on_shown_fields(mode: choices.ChoiceMode, sessions: list[catalogue.SessionInfo],
                     errors: dict[str, str]) -> dict[str, str]:
    """Errors of fields the page does not show (the alternatives of a session that cannot be
    ticked, in a forged or stale form) are told with the sessions, so none goes unseen."""
    shown = {"participant", choices.FIRST}
    firsts: list[str | None] = [x.code for x in sessions if not x.started] if mode.multiple else [None]
    shown |= {choices.alternative_name(first, rank) for first in firsts for rank in mode.ranks}
    kept = {key: message for key, message in errors.items() if key in shown}
    lost = [message for key, message in errors.items() if key not in shown]
    if lost:
        kept[choices.FIRST] = " ".join(dict.fromkeys([*filter(None, [kept.get(choices.FIRST)]), *lost]))
    return kept


# -- the form pages ---------------------------------------------------------------------------------

def _file_names(wizard: Wizard) -> dict[str, str]:
    tokens: list[str] = []
    fields = [f for _, f in wizard.defn.iter_fields()]
    for owner in [None, *wizard.participants]:
        tokens += web.file_tokens(fields, wizard.raw(owner))
    return {token: upload.filename for token, upload in uploads_by_token(tokens, wizard.household.id).items()}


def _resume_url(draft: Draft) -> str:
    """Where a family picks up an unfinished registration: the first page not yet validated."""
    pages = len(definition_for(draft.form_version_id).form.pages)
    reached = int((draft.state or {}).get("reached") or 0)
    if reached >= pages:
        return url_for(".review", token=draft.token)
    return url_for(".page", token=draft.token, number=reached + 1)


def _page_url(wizard: Wizard, number: int) -> str:
    return url_for(".page", token=wizard.draft.token, number=number)


@bp.route("/inscription/<token>/etape/<int:number>", methods=["GET", "POST"])
@login_required
def page(token: str, number: int) -> Any:
    wizard = _wizard(token)
    if wizard.draft.submitted_batch:
        return redirect(url_for(".confirmation", token=token))
    if not 1 <= number <= wizard.page_count:
        abort(404)
    if wizard.has_people and not wizard.participants:
        return redirect(url_for(".start", code=wizard.service.code, brouillon=token))
    index = number - 1
    if index > wizard.reached:
        # Pages are answered in order: conditions look back at earlier answers.
        return redirect(_page_url(wizard, wizard.reached + 1))

    if request.method == "POST":
        action = request.form.get("_action", "next")
        household_id = wizard.household.id

        def store(fld: s.FileField, storage: Any) -> str:
            return store_upload(household_id, storage, accept=fld.accept, max_size_mb=fld.max_size_mb).token

        upload_errors = wizard.collect(index, CombinedMultiDict([request.files, request.form]), store)
        wizard.save()
        db.session.commit()
        if action in ("previous", "save") and upload_errors:
            flash(_("A file could not be saved: you can send it again on that page."), "error")
        if action == "previous":
            if number == 1:
                return redirect(url_for(".start", code=wizard.service.code, brouillon=token))
            return redirect(_page_url(wizard, number - 1))
        if action == "save":
            flash(_("Your answers are saved. You can finish this registration later from "
                    "“My registrations”."), "success")
            return redirect(url_for(".my_registrations"))
        if action == "copy" and not upload_errors and wizard.per_participant(index) and len(wizard.participants) > 1:
            wizard.copy_first(index)
            wizard.save()
            db.session.commit()
            flash(_("The answers given for %(name)s were copied. Check them before you continue.",
                    name=wizard.participants[0].first_name), "success")
            return redirect(_page_url(wizard, number))
        blocks = wizard.blocks(index)
        if action == "next":
            if wizard.check(index, blocks, upload_errors):
                wizard.mark_reached(index)
                wizard.save()
                db.session.commit()
                if number < wizard.page_count:
                    return redirect(_page_url(wizard, number + 1))
                return redirect(url_for(".review", token=token))
        else:
            # Copying was refused because a file failed: show only that.
            for block in blocks:
                block.other_errors = list(web.apply_errors(block.form, upload_errors.get(block.key, {})).values())
    else:
        blocks = wizard.blocks(index)
        if request.args.get("verifier"):
            wizard.check(index, blocks, {})

    links = [link for block in blocks for link in block.error_links()]
    other = [message for block in blocks for message in block.other_errors]
    page_def = wizard.pages[index]
    return render_template(
        "portal/page.html",
        wizard=wizard,
        page=page_def,
        number=number,
        blocks=blocks,
        error_links=links,
        other_errors=other,
        has_files=any(isinstance(f, s.FileField | s.GroupField) for f in page_def.fields),
        file_names=_file_names(wizard),
        step=number + 1,
        steps=wizard.page_count + 2,
        can_copy=wizard.per_participant(index) and len(wizard.participants) > 1,
        previous_url=(url_for(".start", code=wizard.service.code, brouillon=token) if number == 1
                      else _page_url(wizard, number - 1)),
    )


# -- review and confirmation --------------------------------------------------------------------------

@dataclass
class PageAnswers:
    number: int
    title: str
    answers: list[web.Answer]


@dataclass
class OwnerSummary:
    """What the review shows for one registration to be made."""

    name: str
    pages: list[PageAnswers]
    price: Price | None
    problems: list[str]


def _pages_in_words(
    defn: s.ServiceDefinition, values: dict[str, Any], numbers: list[int], file_names: dict[str, str]
) -> list[PageAnswers]:
    return [
        PageAnswers(i + 1, defn.form.pages[i].title,
                    web.answers_in_words(defn.form.pages[i].fields, values, file_names=file_names))
        for i in numbers
    ]


@bp.route("/inscription/<token>/recapitulatif", methods=["GET", "POST"])
@login_required
def review(token: str) -> Any:
    wizard = _wizard(token)
    if wizard.draft.submitted_batch:
        return redirect(url_for(".confirmation", token=token))
    if wizard.has_people and not wizard.participants:
        return redirect(url_for(".start", code=wizard.service.code, brouillon=token))
    if wizard.reached < wizard.page_count:
        return redirect(_page_url(wizard, wizard.reached + 1))

    results = wizard.validate_all()
    for _owner, result in results:
        if result.errors:
            first = min(wizard.page_of(key) for key in result.errors)
            flash(_("Some answers need to be checked before you confirm."), "error")
            return redirect(url_for(".page", token=token, number=first + 1, verifier=1))

    refused: RegistrationRefused | None = None
    if request.method == "POST":
        try:
            create_registrations(RegistrationInput(
                service_code=wizard.service.code,
                household_id=wizard.household.id,
                participants=wizard.inputs(),
                channel="web",
                keyed_by_id=current_user.id,
                session_code=wizard.session_code,
                # Every session chosen, with its ranked alternatives (empty without sessions).
                wishes=wizard.wishes,
                form_version_id=wizard.draft.form_version_id,
                draft_id=wizard.draft.id,
                # The family's answer to "not enough places for all of them" (review page button).
                waitlist_together=request.form.get("waitlist_together") == "1",
            ))
        except RegistrationRefused as exc:
            refused = exc
            # The refusal may follow a change made elsewhere (another tab, an agent): reload.
            wizard = _wizard(token)
        else:
            return redirect(url_for(".confirmation", token=token))

    defn = wizard.defn
    svc = wizard.service
    hview = household_view(wizard.household)
    file_names = _file_names(wizard)
    own_pages = [i for i in range(wizard.page_count) if wizard.per_participant(i)]
    shared_pages = [i for i in range(wizard.page_count) if not wizard.per_participant(i)]
    owners: list[OwnerSummary] = []
    shared_values: dict[str, Any] = {}
    for owner, result in results:
        values = result.values
        shared_values = values
        view = owner.view if owner else None
        owners.append(OwnerSummary(
            name=owner.full_name if owner else wizard.household.display_name,
            pages=_pages_in_words(defn, values, own_pages, file_names),
            price=compute_price(defn, svc.hooks, hview, view, values),
            problems=eligibility_problems(defn, svc.hooks, hview, view),
        ))
    total = sum((o.price.amount for o in owners if o.price), Decimal("0.00"))
    unit = next((o.price.unit for o in owners if o.price), "")
    mode = choices.mode_of(defn)
    sessions = catalogue.sessions_of(svc)
    chosen = choices.chosen(sessions, wizard.wishes)
    # One session, as before; several sessions or alternatives are listed wish by wish.
    session_info = chosen[0].first if mode.simple and chosen else None
    refusal_lines = _refusal_lines(wizard, refused) if refused else []
    window = catalogue.window(svc.definition)
    # Before opening, a complete form is prepared (checked now, sent at opening in one click).
    prepared = prepared_for(wizard.draft.id)
    can_prepare = window.state == "upcoming" and not any(
        _problems_at_opening(wizard, owner) for owner, _result in results)
    return render_template(
        "portal/review.html",
        prepared=prepared,
        can_prepare=can_prepare,
        wizard=wizard,
        owners=owners,
        shared=_pages_in_words(defn, shared_values, shared_pages, file_names),
        total=total,
        unit=unit,
        session=session_info,
        chosen=[] if mode.simple else chosen,
        mode=mode,
        # Each session chosen is priced (one registration per person and session).
        sessions_total=total * len(chosen),
        refused=refused,
        refusal_lines=refusal_lines,
        window=window,
        blocked=not window.is_open or any(o.problems for o in owners),
        step=wizard.page_count + 2,
        steps=wizard.page_count + 2,
    ), (409 if refused else 200)


def _eligibility(service: LoadedService, hview: Any, view: Any, preparing: bool, defn: s.ServiceDefinition | None = None
                 ) -> list[str]:
    """Why this person cannot register now or, ``preparing`` an application before opening, even
    once registration opens for them (a priority window that does not admit them stays a reason)."""
    defn = defn or service.definition
    now = clock.now()
    if preparing:
        opening = opening_for(service.definition, hview, view)
        now = max(now, opening) if opening is not None else now
    return eligibility_problems(defn, service.hooks, hview, view, now=now)


def _problems_at_opening(wizard: Wizard, owner: Participant | None) -> list[str]:
    """Why this person could not register even once registration opens for them (not "not yet")."""
    return _eligibility(wizard.service, household_view(wizard.household), owner.view if owner else None, True,
                        wizard.defn)


def _refusal_lines(wizard: Wizard, refused: RegistrationRefused) -> list[tuple[str, str | None]]:
    """Each refusal message, with a link to the page to change when it is about an answer."""
    lines: list[tuple[str, str | None]] = [(message, None) for message in refused.general]
    for key, field_errors in refused.errors.items():
        person = wizard.participant_by_input_key(key)
        for name, message in field_errors.items():
            try:
                label = wizard.defn.field(name.partition(".")[0]).label
            except KeyError:
                label = name
            lead = f"{person.first_name} – " if person else ""
            number = wizard.page_of(name) + 1
            text = lead + _("%(label)s: %(message)s", label=label, message=message)
            lines.append((text, url_for(".page", token=wizard.draft.token, number=number)))
    return lines


@bp.get("/inscription/<token>/confirmation")
@login_required
def confirmation(token: str) -> Any:
    draft = _own_draft(token)
    household = _household()
    if not draft.submitted_batch:
        return redirect(url_for(".review", token=token))
    regs = list(db.session.scalars(
        select(Registration)
        .filter_by(batch=draft.submitted_batch, household_id=household.id)
        .order_by(Registration.id)
        # The page every family sees after booking: what it shows comes in the same query.
        .options(joinedload(Registration.child), joinedload(Registration.guardian),
                 joinedload(Registration.session))
    ))
    application = db.session.scalar(
        select(Application).filter_by(batch=draft.submitted_batch, household_id=household.id))
    if not regs and application is None:
        abort(404)
    wishes = application.wishes if application is not None else []
    # Several sessions, or ranked alternatives: the outcome is told session by session. The
    # application's state is read only then, or while nothing is decided (this busy page stays
    # as light as before for one session).
    detailed = len(wishes) > 1 or any(len(wish) > 1 for wish in wishes)
    state = application_status(application) if application is not None and (detailed or not regs) else None
    if state is not None and state.pending:
        # Recorded, decided in a moment (ALLOCATION=worker): the application's own page follows it.
        return redirect(url_for("applications.show", application_id=application.id))
    per_session = choices.outcomes(state) if state is not None and state.decided and detailed else []
    statuses = {r.status for r in regs}
    # One status for all, or "mixed" (several sessions), or "refused" (nothing registered).
    status = ("refused" if not regs else statuses.pop()) if len(statuses) <= 1 else "mixed"
    return render_template(
        "portal/confirmation.html",
        registrations=regs,
        service_name=_service_name(draft.service_code, regs[0] if regs else None),
        status=status,
        application=state,
        per_session=per_session,
        positions=waitlist.positions(regs),
        total=sum((r.price for r in regs), Decimal("0.00")),
        # The family's own log-in is one of the addresses the confirmation goes to (see
        # notifications.household_emails): no need to ask the database on this busy page.
        emailed=bool(current_user.email) or bool(household_emails(household.id)),
    )


# -- my registrations ----------------------------------------------------------------------------------

@bp.get("/mes-inscriptions")
@login_required
def my_registrations() -> str:
    household = _household()
    regs = db.session.scalars(
        select(Registration)
        .filter_by(household_id=household.id)
        .order_by(Registration.created_at.desc(), Registration.id.desc())
    )
    groups: dict[str, list[Registration]] = defaultdict(list)
    for reg in regs:
        groups[reg.service_code].append(reg)
    named = sorted(((_service_name(code, items[0]), items) for code, items in groups.items()), key=lambda g: g[0])
    all_regs = [reg for items in groups.values() for reg in items]
    drafts = [
        (draft, _service_name(draft.service_code), _resume_url(draft))
        for draft in db.session.scalars(
            select(Draft)
            .filter_by(account_id=current_user.id, submitted_batch=None)
            .order_by(Draft.updated_at.desc())
        )
        if registry().get(draft.service_code) is not None
    ]
    return render_template(
        "portal/my_registrations.html",
        groups=named,
        drafts=drafts,
        positions=waitlist.positions(all_regs),
        overdue={reg.id for reg in all_regs if waitlist.offer_overdue(reg)},
        # The rule cancelling applies (extra workflow statuses and the deadline included).
        cancellable={reg.id for reg in all_regs if can_cancel(reg)},
    )


@bp.get("/mes-inscriptions/<reference>")
@login_required
def registration_detail(reference: str) -> str:
    reg = _own_registration(reference)
    defn = definition_for(reg.form_version_id)
    fields = [f for _, f in defn.iter_fields()]
    answers = unsealed(reg.answers or {})  # the family reads all its own answers
    tokens = web.file_tokens(fields, answers)
    file_names = {t: u.filename for t, u in uploads_by_token(tokens, reg.household_id).items()}
    pages = _pages_in_words(defn, answers, list(range(len(defn.form.pages))), file_names)
    refusal = cancellation_refusal(reg)
    return render_template(
        "portal/registration.html",
        registration=reg,
        service_name=_service_name(reg.service_code, reg),
        pages=[p for p in pages if p.answers],
        can_cancel=refusal is None,
        # Why the cancel button is missing, when the registration is still active (a service's
        # extra workflow statuses included); a finished one needs no explanation.
        cancel_problem=refusal if reg.status in active_statuses() else None,
        position=waitlist.position(reg),
        overdue=waitlist.offer_overdue(reg),
        together=waitlist.offered_together(reg),
        me=current_user.id,
    )


@bp.route("/mes-inscriptions/<reference>/annulation", methods=["GET", "POST"])
@login_required
def cancel(reference: str) -> Any:
    reg = _own_registration(reference)
    detail = url_for(".registration_detail", reference=reg.reference)
    refusal = cancellation_refusal(reg)
    if refusal is not None:
        finished = _("This registration cannot be cancelled online. Please contact the town's services.")
        flash(refusal if reg.status in active_statuses() else finished, "error")
        return redirect(detail)
    if request.method == "POST":
        try:
            cancel_registration(reg.id, by_id=current_user.id, reason=request.form.get("reason", ""))
        except CancellationRefused as exc:
            flash(str(exc), "error")
            return redirect(detail)
        flash(_("The registration %(reference)s is cancelled.", reference=reference), "success")
        return redirect(detail)
    return render_template(
        "portal/cancel.html", registration=reg, service_name=_service_name(reg.service_code, reg)
    )


# -- answering a place offered from the waiting list -------------------------------------------------

@bp.post("/mes-inscriptions/<reference>/offre/accepter")
@login_required
def offer_accept(reference: str) -> Response:
    reg = _own_registration(reference)
    detail = url_for(".registration_detail", reference=reg.reference)
    try:
        accepted = waitlist.accept_offer(reg.id, by_id=current_user.id)
    except waitlist.OfferRefused as exc:
        flash(str(exc), "error")
        return redirect(detail)
    names = ", ".join(r.participant_name for r in accepted)
    flash(_("You accepted the place offered for %(names)s.", names=names), "success")
    return redirect(detail)


@bp.route("/mes-inscriptions/<reference>/offre/refuser", methods=["GET", "POST"])
@login_required
def offer_decline(reference: str) -> Any:
    reg = _own_registration(reference)
    detail = url_for(".registration_detail", reference=reg.reference)
    if reg.status != Status.OFFERED:
        flash(_("There is no place offered to answer for this registration."), "error")
        return redirect(detail)
    if request.method == "POST":
        try:
            declined = waitlist.decline_offer(reg.id, by_id=current_user.id)
        except waitlist.OfferRefused as exc:
            flash(str(exc), "error")
            return redirect(detail)
        names = ", ".join(r.participant_name for r in declined)
        flash(_("You declined the place offered for %(names)s.", names=names), "success")
        return redirect(detail)
    return render_template(
        "portal/offer_decline.html",
        registration=reg,
        together=waitlist.offered_together(reg),
        service_name=_service_name(reg.service_code, reg),
        overdue=waitlist.offer_overdue(reg),
    )


@bp.get("/mes-documents/<token>")
@login_required
def document(token: str) -> Response:
    upload = find_upload(token, _household().id)
    if upload is None:
        abort(404)
    return download_response(upload)

