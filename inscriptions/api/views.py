"""The JSON API, version 1 (``/api/v1``).

Every call but the OpenAPI document needs ``Authorization: Bearer <token>`` (tokens from
``inscriptions staff token``). The API never reads the session cookie, so it is exempt from CSRF
protection: a request that is not authenticated by its token is refused before anything runs.
Bookings go through :func:`create_registrations`, like the web portal and the counter.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Response, g, jsonify, request, url_for
from flask_babel import format_date
from flask_babel import gettext as _
from pydantic import BaseModel, ValidationError
from sqlalchemy import func, or_, select
from sqlalchemy.orm import joinedload, selectinload
from werkzeug.exceptions import HTTPException

from inscriptions import clock
from inscriptions.allocation.queue import NotSendable, NotYetOpen, send_prepared
from inscriptions.allocation.status import application_status
from inscriptions.api import schemas as sc
from inscriptions.api.errors import ApiError, busy_error, error_response, http_error_response, validation_error
from inscriptions.api.openapi import openapi_document
from inscriptions.api.tokens import account_for_token, token_owner
from inscriptions.audit import Action, log_read
from inscriptions.boundary import BadInput, load_json
from inscriptions.database import BusyError
from inscriptions.definitions import schema as s
from inscriptions.definitions.registry import definition_for, registry
from inscriptions.digits import is_digits
from inscriptions.extensions import csrf, db
from inscriptions.models import (
    Account,
    AllocationDecision,
    Application,
    Child,
    Guardian,
    Household,
    Registration,
    ServiceSession,
    StaffRole,
    Status,
    public_number,
)
from inscriptions.permissions import acts_for_household, can, services_with
from inscriptions.portal import catalogue
from inscriptions.privacy.sealing import unsealed
from inscriptions.registrations.create import (
    KEY_REUSED,
    ParticipantInput,
    RegistrationInput,
    RegistrationOutcome,
    RegistrationRefused,
    create_registrations,
    prepare_application,
)
from inscriptions.registrations.status import holding_statuses
from inscriptions.registrations.windows import moment_text

bp = Blueprint("api", __name__, url_prefix="/api/v1")
# The API authenticates with bearer tokens only, never with the session cookie: a forged
# cross-site request carries no token and is refused in _authenticate.
csrf.exempt(bp)

PUBLIC_ENDPOINTS = {"api.openapi"}
# Views that check the token themselves, inside their one transaction (the opening-morning send).
SELF_AUTHENTICATED = {"api.send_application"}
SEARCH_LIMIT = 20


# -- errors and authentication ----------------------------------------------------------------------

@bp.errorhandler(ApiError)
def _api_error(exc: ApiError) -> Response:
    return error_response(exc)


@bp.errorhandler(ValidationError)
def _validation_error(exc: ValidationError) -> Response:
    return error_response(validation_error(exc))


@bp.errorhandler(BusyError)
def _busy(exc: BusyError) -> Response:
    return error_response(busy_error())


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response:
    return http_error_response(exc)


@bp.before_request
def _authenticate() -> None:
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    scheme, _sep, secret = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise ApiError(401, "unauthorized", _("A valid API token is required."))
    if request.endpoint in SELF_AUTHENTICATED:
        g.api_secret = secret.strip()
        return
    account = account_for_token(secret.strip())
    if account is None:
        raise ApiError(401, "unauthorized", _("This API token is unknown or has been revoked."))
    g.api_account = account


def _account() -> Account:
    return g.api_account


def _reply(model: BaseModel, status: int = 200) -> Response:
    response = jsonify(model.model_dump(mode="json"))
    response.status_code = status
    return response


def _log_staff_access(account: Account, action: str, households: list[int | None], detail: dict[str, Any], *,
                      registration_id: int | None = None) -> None:
    """Log (and commit) an access to families' data through the API, unless every household it
    showed is the account's own: a family reading its own data is not an access to log."""
    others = sorted({h for h in households if h is not None and not acts_for_household(account, h)})
    if others:
        log_read(account, action, None, detail, registration_id=registration_id, households=others)


def _json_body() -> Any:
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type",
                       _("Send the request body as JSON (Content-Type: application/json)."))
    try:
        # NaN, Infinity and bodies nested too deep are refused here rather than stored, and every
        # string goes through the one input boundary (inscriptions.boundary).
        return load_json(request.get_data(cache=False))
    except BadInput as exc:
        raise ApiError(422, "invalid_text", str(BadInput.description)) from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "invalid_json", _("The request body is not valid JSON.")) from exc


def _utc(value: dt.datetime) -> dt.datetime:
    # The database keeps naive UTC; the API says so explicitly.
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


# -- documents ----------------------------------------------------------------------------------------

@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(openapi_document())


@bp.get("/me")
def me() -> Response:
    account = _account()
    grants = db.session.execute(
        select(StaffRole.role, StaffRole.service_code)
        .where(StaffRole.account_id == account.id)
        .order_by(StaffRole.role, StaffRole.service_code)
    ).all()
    household = account.household
    return _reply(sc.MeOut(
        account_id=account.id,
        email=account.email,
        roles=[sc.GrantOut(role=role, service=code) for role, code in grants],
        household=_household_out(household) if household is not None else None,
    ))


# -- registrations ------------------------------------------------------------------------------------

@bp.post("/registrations")
def create_registration() -> Response:
    account = _account()
    body = sc.RegistrationIn.model_validate(_json_body())
    data = _booking_input(account, body)
    outcome = _create(data)

    regs = _registrations(outcome.registration_ids)
    _log_booking(account, data, outcome, regs)
    response = _reply(sc.BookingOut(
        batch=outcome.batch,
        status=outcome.status,
        replayed=outcome.replayed,
        registrations=[_registration_out(r) for r in regs],
    ), 201)
    if regs:
        response.headers["Location"] = url_for(".get_registration", reference=regs[0].reference)
    return response


def _log_booking(account: Account, data: RegistrationInput, outcome: RegistrationOutcome,
                 regs: list[Registration]) -> None:
    """A booking staff key through the API is logged like the counter's (a replay as a read)."""
    detail: dict[str, Any] = {"service": data.service_code, "channel": data.channel, "batch": outcome.batch}
    if outcome.application_id is not None:
        detail["application_id"] = outcome.application_id
    action = Action.READ_REGISTRATION if outcome.replayed else Action.REGISTER
    detail["registrations"] = [r.id for r in regs]
    _log_staff_access(account, action, [data.household_id], detail)


def _booking_input(
    account: Account, body: sc.RegistrationIn, wishes: list[list[str]] | None = None
) -> RegistrationInput:
    """The engine's input for a booking or application body, after the API's own access checks
    (who may book which household, through which channel)."""
    service = registry().get(body.service)
    if service is None:
        raise ApiError(422, "validation_error", _("Some values need to be checked."),
                       {"service": _("This service does not exist.")})

    note = body.note
    if can(account, "register_for_any_household", service.code):
        if body.household_id is None:
            raise ApiError(422, "validation_error", _("Some values need to be checked."),
                           {"household_id": _("This field is required.")})
        household_id = body.household_id
        channel = body.channel or "counter"
        if body.received_on is not None:
            if body.received_on > clock.now().astimezone(clock.local_zone()).date():
                raise ApiError(422, "validation_error", _("Some values need to be checked."),
                               {"received_on": _("This date is in the future.")})
            note = " ".join(x for x in (_("Form received on %(date)s.", date=format_date(body.received_on)),
                                        note) if x)
    elif can(account, "register_own_household"):
        own = account.guardian.household_id if account.guardian else None
        if body.household_id is not None and body.household_id != own:
            # Same answer whether that household exists or not.
            raise ApiError(403, "forbidden", _("You can only register members of your own household."))
        if body.channel not in (None, "api"):
            raise ApiError(403, "forbidden", _("Families book through the API with the channel \"api\"."),
                           {"channel": _("This value is not one of the allowed values.")})
        staff_only = {name: _("Only staff can give this.")
                      for name in ("received_on", "note") if getattr(body, name)}
        if staff_only:
            raise ApiError(422, "validation_error", _("Some values need to be checked."), staff_only)
        household_id = own
        channel = "api"
    else:
        raise ApiError(403, "forbidden", _("You are not allowed to register for this service."))

    participants = [
        ParticipantInput(child_id=p.child_id, guardian_id=p.guardian_id, answers={**body.answers, **p.answers})
        for p in body.participants
    ]
    return RegistrationInput(
        service_code=service.code,
        household_id=household_id,
        participants=participants,
        channel=channel,
        keyed_by_id=account.id,
        session_code=body.session,
        wishes=tuple(tuple(wish) for wish in wishes or ()),
        note=note,
        idempotency_key=_idempotency_key(account, body.idempotency_key),
        waitlist_together=body.waitlist_together,
    )


def _create(data: RegistrationInput) -> RegistrationOutcome:
    """:func:`create_registrations`, its refusals as API errors."""
    try:
        return create_registrations(data)
    except RegistrationRefused as exc:
        _log_refusal(data, exc)
        raise _refusal(exc, list(data.participants)) from exc


def _log_refusal(data: RegistrationInput, exc: RegistrationRefused) -> None:
    """A refusal names the participants (``Léa is already registered``): for staff, a read."""
    db.session.rollback()
    _log_staff_access(_account(), Action.REGISTER, [data.household_id],
                      {"service": data.service_code, "channel": data.channel, "refused": exc.code or "refused"})


def _idempotency_key(account: Account, key: str | None) -> str | None:
    """The client's key, from the body or the ``Idempotency-Key`` header, scoped to the account.

    Keys are unique engine-wide: scoping them keeps one client's keys from colliding with (or
    probing) another's.
    """
    header = request.headers.get("Idempotency-Key")
    if header is not None:
        try:
            header = sc.IdempotencyKey.model_validate({"key": header}).key
        except ValidationError as exc:
            raise ApiError(422, "validation_error", _("Some values need to be checked."),
                           {"Idempotency-Key": _("This value is not valid.")}) from exc
        if key is not None and key != header:
            raise ApiError(422, "validation_error", _("Some values need to be checked."),
                           {"idempotency_key": _("This key differs from the Idempotency-Key header.")})
        key = header
    return f"api:{account.id}:{key}" if key else None


def _refusal(exc: RegistrationRefused, participants: list[ParticipantInput]) -> ApiError:
    index = {p.key: i for i, p in enumerate(participants)}
    fields = {
        f"participants.{index[key]}.answers.{name}" if key in index else f"{key}.{name}": str(message)
        for key, errors in exc.errors.items()
        for name, message in errors.items()
    }
    general = [str(m) for m in exc.general]
    message = " ".join(general) if general else _("Some answers need to be checked.")
    # A key already used for another booking is a conflict with that request, not bad input.
    status = 409 if exc.code == KEY_REUSED else 422
    return ApiError(status, exc.code or "refused", message, fields, general, places_left=exc.places_left)


def _registrations(ids: list[int]) -> list[Registration]:
    if not ids:
        return []
    return list(db.session.scalars(
        select(Registration)
        .where(Registration.id.in_(ids))
        .options(joinedload(Registration.child), joinedload(Registration.guardian),
                 joinedload(Registration.session))
        .order_by(Registration.id)
    ))


def _registration_fields(reg: Registration) -> dict[str, Any]:
    return {
        "reference": reg.reference,
        "status": reg.status,
        "service": reg.service_code,
        "session": reg.session.code if reg.session is not None else None,
        "household_id": reg.household_id,
        "child_id": reg.child_id,
        "guardian_id": reg.guardian_id,
        "participant": reg.participant_name,
        "places": reg.places,
        "price": f"{reg.price:.2f}",
        "price_unit": reg.price_unit,
        "channel": reg.channel,
        "keyed_by_id": reg.keyed_by_id,
        "batch": reg.batch,
        "created_at": _utc(reg.created_at),
    }


def _registration_out(reg: Registration) -> sc.RegistrationOut:
    return sc.RegistrationOut(**_registration_fields(reg))


LIST_LIMIT = 100


def path_id(raw: str) -> int:
    """The id a URL gives, or 0 (no row has it) for anything but a number within the database's range."""
    return int(raw) if is_digits(raw) and len(raw) <= 10 and int(raw) <= sc.MAX_ID else 0


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not is_digits(raw) or len(raw) > 18 or not low <= int(raw) <= high:
        raise ApiError(422, "validation_error", _("Some values need to be checked."),
                       {name: _("Give a whole number between %(low)s and %(high)s.", low=low, high=high)})
    return int(raw)


@bp.get("/registrations")
def list_registrations() -> Response:
    """Registrations the token may read: a parent's own household's, a staff member's services'.

    Filters: ``service``, ``status``, ``session`` (with ``service``); pages of ``limit`` (1-100)
    from ``offset``. Answers are not listed (read one registration for them).
    """
    account = _account()
    code = request.args.get("service", "").strip()[:40] or None
    status = request.args.get("status", "").strip()[:20] or None
    session_code = request.args.get("session", "").strip()[:40] or None
    limit = _int_arg("limit", 50, 1, LIST_LIMIT)
    offset = _int_arg("offset", 0, 0, 10_000_000)
    if code is not None and registry().get(code) is None:
        raise ApiError(404, "not_found", _("This service does not exist."))
    readable = services_with(account, "read_any_registration")  # None: every service
    query = select(Registration).where(Registration.household_id.is_not(None))
    if readable is None or readable:
        if code is not None and readable is not None and code not in readable:
            raise ApiError(403, "forbidden", _("You are not allowed to do this."))
        if readable is not None:
            query = query.where(Registration.service_code.in_(sorted(readable)))
    elif can(account, "read_own_registrations") and account.guardian is not None:
        query = query.where(Registration.household_id == account.guardian.household_id)
    else:
        raise ApiError(403, "forbidden", _("You are not allowed to do this."))
    if code is not None:
        query = query.where(Registration.service_code == code)
    if status is not None:
        query = query.where(Registration.status == status)
    if session_code is not None:
        query = query.join(ServiceSession, Registration.session_id == ServiceSession.id).where(
            ServiceSession.code == session_code)
    rows = list(db.session.scalars(
        query.options(joinedload(Registration.child), joinedload(Registration.guardian),
                      joinedload(Registration.session))
        .order_by(Registration.id).offset(offset).limit(limit + 1)
    ))
    more = len(rows) > limit
    shown = rows[:limit]
    _log_staff_access(account, Action.READ_QUEUE, [r.household_id for r in shown], {
        "service": code, "status": status, "session": session_code, "registrations": [r.id for r in shown],
    })
    return _reply(sc.RegistrationsOut(items=[_registration_out(r) for r in rows[:limit]],
                                      next_offset=offset + limit if more else None))


@bp.get("/registrations/<reference>")
def get_registration(reference: str) -> Response:
    account = _account()
    reg = db.session.scalar(select(Registration).filter_by(reference=reference[:20]))
    owner = reg is not None and acts_for_household(account, reg.household_id) and can(
        account, "read_own_registrations")
    if reg is None or not (owner or can(account, "read_any_registration", reg.service_code)):
        # Another household's registration answers exactly like one that does not exist.
        raise ApiError(404, "not_found", _("Not found."))
    answers = dict(reg.answers or {})
    sensitive = owner or can(account, "read_sensitive_answers", reg.service_code)
    # Sealed health answers opened for the family and the allowed staff only.
    answers = unsealed(answers) if sensitive else _without_sensitive(definition_for(reg.form_version_id), answers)
    if not owner:
        _log_staff_access(account, Action.READ_REGISTRATION, [reg.household_id],
                          {"reference": reg.reference, "service": reg.service_code, "sensitive_shown": sensitive},
                          registration_id=reg.id)
    return _reply(sc.RegistrationDetailOut(
        **_registration_fields(reg),
        answers=answers,
        history=[sc.HistoryOut(from_status=h.from_status, to_status=h.to_status, at=_utc(h.at))
                 for h in reg.history],
    ))


def _without_sensitive(defn: s.ServiceDefinition, answers: dict[str, Any]) -> dict[str, Any]:
    """``answers`` less the fields (and group sub-fields) flagged sensitive."""
    kept: dict[str, Any] = {}
    for _page, fld in defn.iter_fields():
        if fld.name not in answers or fld.sensitive:
            continue
        value = answers[fld.name]
        if isinstance(fld, s.GroupField) and isinstance(value, list):
            hidden = {sub.name for sub in fld.fields if sub.sensitive}
            value = [{k: v for k, v in item.items() if k not in hidden} if isinstance(item, dict) else item
                     for item in value]
        kept[fld.name] = value
    return kept


# -- applications -------------------------------------------------------------------------------------

@bp.post("/applications")
def create_application() -> Response:
    """Record an application (same checks and engine as a booking) and answer 202 with where to
    follow it: the allocator decides in the request (``ALLOCATION=inline``) or a moment later."""
    account = _account()
    body = sc.ApplicationIn.model_validate(_json_body())
    if body.wishes is not None and body.session is not None:
        raise ApiError(422, "validation_error", _("Some values need to be checked."),
                       {"wishes": _("Give either wishes or one session, not both.")})
    data = _booking_input(account, body, body.wishes)
    if not body.send:
        return _prepared(data)
    outcome = _create(data)
    application = _application_of(outcome)
    _log_booking(account, data, outcome, _registrations(outcome.registration_ids))
    defn = definition_for(application.form_version_id)
    status_url = url_for(".get_application", application_id=application.id)
    response = _reply(sc.ApplicationAcceptedOut(
        application_id=application.id,
        public_id=application.public_id(defn.reference_prefix),
        service=application.service_code,
        batch=application.batch,
        status=application.status,
        replayed=outcome.replayed,
        status_url=status_url,
    ), 202)
    response.headers["Location"] = status_url
    return response


def _prepared(data: RegistrationInput) -> Response:
    """Check the application now, keep it prepared (no place in the queue): 201 with its send URL."""
    try:
        outcome = prepare_application(data)
    except RegistrationRefused as exc:
        _log_refusal(data, exc)
        raise _refusal(exc, list(data.participants)) from exc
    application = db.session.get(Application, outcome.application_id)
    status_url = url_for(".get_application", application_id=application.id)
    response = _reply(sc.ApplicationAcceptedOut(
        application_id=application.id, public_id="", service=application.service_code, batch=application.batch,
        status=application.status, replayed=False, status_url=status_url,
        send_url=url_for(".send_application", application_id=application.id),
        opens_at=_utc(application.opens_at) if application.opens_at else None,
    ), 201)
    response.headers["Location"] = status_url
    return response


@bp.post("/applications/<application_id>/send")
def send_application(application_id: str) -> Response:
    """Send a prepared application: the opening-morning request, as light as the web's (the
    application is only numbered; the allocator decides). Sending twice gives the same answer.

    The token is checked inside the send's own transaction (one small query, see
    :func:`inscriptions.api.tokens.token_owner`): one connection, one commit for the request."""
    secret = g.api_secret
    wanted = path_id(application_id)

    def household_id() -> int:
        owner = token_owner(secret)
        if owner is None:
            raise ApiError(401, "unauthorized", _("This API token is unknown or has been revoked."))
        if owner.household_id is not None:
            return owner.household_id  # a family sends its own applications
        # Staff send for the household the application was prepared for, in their own services.
        account = db.session.get(Account, owner.account_id)
        found = db.session.execute(select(Application.household_id, Application.service_code)
                                   .where(Application.id == wanted)).first() if 1 <= wanted <= sc.MAX_ID else None
        if found is None or not can(account, "register_for_any_household", found.service_code):
            raise NotSendable()
        return int(found.household_id)

    try:
        sent = send_prepared(wanted, household_id)
    except NotSendable as exc:
        raise ApiError(404, "not_found", _("Not found.")) from exc
    except NotYetOpen as exc:
        raise ApiError(409, "not_open", _("This application may be sent from %(when)s.", when=moment_text(
            _utc(exc.opens_at))) if exc.opens_at else _("This application cannot be sent yet.")) from exc
    service = registry().get(sent.service_code)
    status_url = url_for(".get_application", application_id=wanted)
    response = _reply(sc.ApplicationAcceptedOut(
        application_id=wanted,
        public_id=public_number(service.definition.reference_prefix, sent.queue_number) if service else "",
        service=sent.service_code, batch=sent.batch, status=sent.status, replayed=sent.replayed,
        status_url=status_url,
    ), 202)
    response.headers["Location"] = status_url
    return response


def _application_of(outcome: RegistrationOutcome) -> Application:
    """The application an outcome recorded (or replayed)."""
    application = (db.session.get(Application, outcome.application_id) if outcome.application_id is not None
                   else db.session.scalar(select(Application).filter_by(batch=outcome.batch)))
    if application is None:  # pragma: no cover - every booking records an application since the migration
        raise ApiError(404, "not_found", _("Not found."))
    return application


@bp.get("/applications/<application_id>")
def get_application(application_id: str) -> Response:
    """An application's state: pending with its place in line, or decided wish by wish, with the
    registrations made. Its own household (parent token) or staff of its service only."""
    account = _account()
    wanted = path_id(application_id)
    application = db.session.get(Application, wanted) if 1 <= wanted <= sc.MAX_ID else None
    if application is None or not _may_read_application(account, application):
        # Another household's application answers exactly like one that does not exist.
        raise ApiError(404, "not_found", _("Not found."))
    state = application_status(application)
    _log_staff_access(account, Action.READ_REGISTRATION, [application.household_id],
                      {"application_id": application.id, "service": application.service_code})
    # The session codes of the decisions (the state gives their labels, for people).
    codes: dict[int, str | None] = {wish: code for wish, code in db.session.execute(
        select(AllocationDecision.wish, AllocationDecision.session_code)
        .where(AllocationDecision.application_id == application.id)
    )}
    return _reply(sc.ApplicationOut(
        id=application.id,
        public_id=state.public_id,
        service=application.service_code,
        service_name=state.service_name,
        status=application.status,
        channel=application.channel,
        household_id=application.household_id,
        wishes=[list(wish) for wish in application.wishes or []],
        submitted_at=_utc(state.submitted_at) if state.submitted_at else None,
        decided_at=_utc(application.decided_at) if application.decided_at else None,
        place_in_line=state.place_in_line,
        results=[
            sc.WishResultOut(
                wish=result.wish,
                session=codes.get(result.wish),
                session_label=result.session,
                rank=result.rank,
                outcome=result.outcome,  # type: ignore[arg-type]  # a str of Outcome, checked by pydantic
                reason=result.reason,
                reason_text=result.reason_text,
                registrations=[sc.ApplicationLineOut(
                    registration_id=line.registration_id, reference=line.reference, participant=line.person,
                    status=line.status, waitlist_position=line.waitlist_position,
                ) for line in result.lines],
            )
            for result in (state.results if state.decided else [])
        ],
    ))


def _may_read_application(account: Account, application: Application) -> bool:
    """The rule of registrations: the household's own parent, or staff who read the service's."""
    if application.household_id is not None and acts_for_household(account, application.household_id) and can(
            account, "read_own_registrations"):
        return True
    return can(account, "read_any_registration", application.service_code)


# -- services and sessions ----------------------------------------------------------------------------

@bp.get("/services")
def list_services() -> Response:
    items = []
    for service in registry().all():
        defn = service.definition
        items.append(sc.ServiceOut(
            code=service.code,
            name=defn.name,
            description=defn.description,
            audience=defn.audience,
            workflow=defn.workflow,
            opening=clock.as_local_aware(defn.opening),
            closing=clock.as_local_aware(defn.closing),
            state=catalogue.window(defn).state,
            has_sessions=bool(defn.sessions),
        ))
    return _reply(sc.ServicesOut(items=items))


@bp.get("/services/<code>/sessions")
def list_sessions(code: str) -> Response:
    service = registry().get(code)
    if service is None:
        raise ApiError(404, "not_found", _("This service does not exist."))
    infos = catalogue.sessions_of(service)
    fill: dict[str, tuple[int, int]] | None = None
    if can(_account(), "read_sessions_fill", service.code):
        fill = _fill(service.code)
    items = []
    for info in infos:
        held, waiting = fill.get(info.code, (0, 0)) if fill is not None else (None, None)
        items.append(sc.SessionOut(
            code=info.code, label=info.label, starts_at=info.starts_at, capacity=info.capacity,
            places_left=info.left, full=info.full, started=info.started, places_held=held, waiting=waiting,
        ))
    return _reply(sc.SessionsOut(service=service.code, items=items))


def _fill(service_code: str) -> dict[str, tuple[int, int]]:
    """Places held and waiting-list entries per session code, counted from the registrations."""
    held = func.coalesce(func.sum(Registration.places).filter(Registration.status.in_(holding_statuses())), 0)
    waiting = func.count(Registration.id).filter(Registration.status == Status.WAITLISTED)
    rows = db.session.execute(
        select(ServiceSession.code, held, waiting)
        .join(Registration, Registration.session_id == ServiceSession.id)
        .where(ServiceSession.service_code == service_code)
        .group_by(ServiceSession.code)
    ).all()
    return {code: (int(h or 0), int(w or 0)) for code, h, w in rows}


# -- households (staff) -------------------------------------------------------------------------------

@bp.get("/households")
def search_households() -> Response:
    account = _account()
    if not can(account, "search_households"):
        raise ApiError(403, "forbidden", _("You are not allowed to do this."))
    query = request.args.get("q", "").strip()
    if not 2 <= len(query) <= 100:
        raise ApiError(422, "validation_error", _("Some values need to be checked."),
                       {"q": _("Type between 2 and 100 characters.")})
    pattern = "%" + query.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    guardians = select(Guardian.household_id).where(or_(
        func.lower(Guardian.last_name).like(pattern, escape="\\"),
        func.lower(Guardian.first_name).like(pattern, escape="\\"),
        func.lower(Guardian.email).like(pattern, escape="\\"),
    ))
    children = select(Child.household_id).where(or_(
        func.lower(Child.last_name).like(pattern, escape="\\"),
        func.lower(Child.first_name).like(pattern, escape="\\"),
    ))
    households = list(db.session.scalars(
        select(Household)
        .where(or_(Household.id.in_(guardians), Household.id.in_(children)))
        .options(selectinload(Household.guardians), selectinload(Household.children))
        .order_by(Household.id)
        .limit(SEARCH_LIMIT)
    ))
    log_read(account, Action.SEARCH, None, {"query": query[:100], "results": len(households)},
             households=[h.id for h in households])
    return _reply(sc.HouseholdsOut(items=[_household_out(h) for h in households]))


@bp.get("/households/<household_id>")
def get_household(household_id: str) -> Response:
    """One household (guardians, children) for staff who may find households; the read is audited."""
    account = _account()
    if not can(account, "search_households"):
        raise ApiError(403, "forbidden", _("You are not allowed to do this."))
    wanted = path_id(household_id)
    household = db.session.get(Household, wanted) if 1 <= wanted <= sc.MAX_ID else None
    if household is None:
        raise ApiError(404, "not_found", _("Not found."))
    log_read(account, Action.READ_HOUSEHOLD, household.id, {"channel": "api"})
    return _reply(_household_out(household))


def _household_out(household: Household) -> sc.HouseholdOut:
    return sc.HouseholdOut(
        id=household.id,
        name=household.display_name,
        postcode=household.postcode,
        city=household.city,
        guardians=[sc.GuardianOut(id=x.id, first_name=x.first_name, last_name=x.last_name, email=x.email)
                   for x in household.guardians],
        children=[sc.ChildOut(id=c.id, first_name=c.first_name, last_name=c.last_name, birth_date=c.birth_date)
                  for c in household.children],
    )
