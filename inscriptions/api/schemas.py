"""Pydantic models of the API: they validate request bodies and shape responses, and the
OpenAPI document (:mod:`inscriptions.api.openapi`) is derived from them."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# Database ids are 32-bit integers: larger numbers are refused here, not by the database.
from inscriptions import MAX_ID

# Channels an API client may name; "web" is the portal's own and never comes through the API.
ApiChannel = Literal["api", "counter", "paper", "phone", "mail"]
STAFF_CHANNELS: tuple[str, ...] = ("counter", "paper", "phone", "mail", "api")
# The engine keeps keys of up to 64 characters; "api:<account id>:" takes up to 15 of them.
KEY_MAX = 48
KEY_PATTERN = r"^[A-Za-z0-9_.:-]+$"


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ParticipantIn(Input):
    """One person to register: a child or an adult of the household, or nobody for services
    that register the whole household. ``answers`` are this person's own answers."""

    child_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    guardian_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    answers: dict[str, Any] = Field(default_factory=dict)


class RegistrationIn(Input):
    """A booking of one or several participants to one service (and one session if it has any)."""

    service: str = Field(min_length=1, max_length=40, description="Service code, e.g. `cantine`.")
    household_id: int | None = Field(
        default=None, ge=1, le=MAX_ID,
        description="Required for staff; a parent's token may leave it out (their own household).",
    )
    session: str | None = Field(default=None, max_length=40, description="Session code, for services with sessions.")
    participants: list[ParticipantIn] = Field(min_length=1, max_length=20)
    answers: dict[str, Any] = Field(
        default_factory=dict,
        description="Answers shared by every participant; a participant's own answers win.",
    )
    channel: ApiChannel | None = Field(
        default=None,
        description="Parents: `api` only (the default). Staff: `counter` (the default), `paper`, "
                    "`phone`, `mail` or `api`.",
    )
    idempotency_key: str | None = Field(
        default=None, min_length=1, max_length=KEY_MAX, pattern=KEY_PATTERN,
        description="Sending the same key again returns the first result instead of booking twice "
                    "(also accepted as the `Idempotency-Key` header). Keys are scoped to the token's account; "
                    "the same key for another booking is a 409.",
    )
    waitlist_together: bool = Field(
        default=False,
        description="For services where the family chooses: when the session has room for only some of the "
                    "participants, put all of them on the waiting list (otherwise a 422 `not_enough_places` "
                    "says how many places are left).",
    )
    received_on: dt.date | None = Field(
        default=None, description="Staff only: the day a paper or mail form was received.",
    )
    note: str = Field(default="", max_length=500, description="Staff only: a note kept in the history.")


# A wish is a ranked list of session codes (first choice, then alternatives); an application has
# a few wishes (weeks, slots). Bounds here only keep bodies small: the service's own limits
# (``sessions_choice``, ``alternatives``) are checked by the engine, with French messages.
SessionCode = Annotated[str, Field(min_length=1, max_length=40)]
Wish = Annotated[list[SessionCode], Field(min_length=1, max_length=6)]


class ApplicationIn(RegistrationIn):
    """An application: the booking body, plus several wishes of sessions with ranked alternatives."""

    wishes: list[Wish] | None = Field(
        default=None, min_length=1, max_length=20,
        description="For services with sessions: each wish is a ranked list of session codes (first choice, "
                    "then alternatives), e.g. `[[\"juil-1\"], [\"mar-17h\", \"jeu-17h\"]]`. Give either "
                    "`wishes` or `session`, not both (`session` alone is one wish of one session).",
    )
    send: bool = Field(
        default=True,
        description="`false`: check everything now and keep the application **prepared**, without a place in "
                    "the queue; send it at opening with `POST /api/v1/applications/{id}/send` (one light request "
                    "that only numbers it). Prepared applications are checked as at the moment they may be sent.",
    )


class IdempotencyKey(Input):
    key: str = Field(min_length=1, max_length=KEY_MAX, pattern=KEY_PATTERN)


class ErrorBody(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. `validation_error`, `refused`.")
    message: str = Field(description="A sentence for people (French).")
    fields: dict[str, str] = Field(
        default_factory=dict,
        description="Messages by input path: `participants.0.answers.days`, `household_id`...",
    )
    general: list[str] | None = Field(default=None, description="Reasons that concern the whole request.")
    places_left: int | None = Field(default=None, description="With `not_enough_places`: places still free.")


class ErrorOut(BaseModel):
    error: ErrorBody


class HistoryOut(BaseModel):
    from_status: str | None
    to_status: str
    at: dt.datetime


class RegistrationOut(BaseModel):
    reference: str
    status: str
    service: str
    session: str | None
    household_id: int | None = Field(description="None once the registration is anonymised (RGPD retention).")
    child_id: int | None
    guardian_id: int | None
    participant: str
    places: int
    price: str = Field(description="Decimal amount in euros, as a string (`2.40`).")
    price_unit: str
    channel: str
    keyed_by_id: int | None
    batch: str
    created_at: dt.datetime


class RegistrationDetailOut(RegistrationOut):
    answers: dict[str, Any] = Field(description="Answers flagged sensitive are left out unless the role may read them.")
    history: list[HistoryOut]


class BookingOut(BaseModel):
    batch: str
    status: str = Field(description="`accepted`, `submitted` (manual review) or `waitlisted`.")
    replayed: bool = Field(description="True when this answers an idempotency key already used.")
    registrations: list[RegistrationOut]


class ApplicationAcceptedOut(BaseModel):
    """The answer to a recorded application: where to read what the allocator decides."""

    application_id: int
    public_id: str = Field(description="The number to quote to the town, e.g. `STG-D000042`.")
    service: str
    batch: str
    status: str = Field(description="`pending` (the allocator decides in a moment) or `decided` (decided "
                                    "within the request: read the result at `status_url`).")
    replayed: bool = Field(description="True when this answers an idempotency key already used.")
    status_url: str = Field(description="`GET` it for the application's state (also the `Location` header).")
    send_url: str | None = Field(default=None, description="Prepared applications: `POST` it to send.")
    opens_at: dt.datetime | None = Field(default=None, description="Prepared applications: from when "
                                                                   "they may be sent (UTC).")


class ApplicationLineOut(BaseModel):
    """One registration an application produced (one person in one session)."""

    registration_id: int
    reference: str
    participant: str
    status: str = Field(description="`accepted`, `submitted` (manual review), `waitlisted`... (it may have "
                                    "changed since the decision: cancelled, offered...).")
    waitlist_position: int | None = Field(description="1 = next; null when not on the waiting list.")


class WishResultOut(BaseModel):
    """What the allocator decided for one wish, and why."""

    wish: int = Field(description="The wish's number in the application (1 = first).")
    session: str | None = Field(description="Code of the session obtained or waited for; null when refused or "
                                            "for a service without sessions.")
    session_label: str | None
    rank: int | None = Field(description="Rank of that session in the wish (1 = first choice).")
    outcome: Literal["accepted", "waitlisted", "refused"]
    reason: str = Field(description="Stable reason code: `fits`, `no_sessions`, `queue`, `full`, "
                                    "`not_enough_places`, `started`, `duplicate`, `unknown_session`.")
    reason_text: str = Field(description="The reason in words (French).")
    registrations: list[ApplicationLineOut]


class ApplicationOut(BaseModel):
    """An application's state: waiting for the allocator (with its place in line), or decided."""

    id: int
    public_id: str = Field(description="e.g. `STG-D000042`; empty while the application is only prepared.")
    service: str
    service_name: str
    status: str = Field(description="`pending` (in the queue), `decided`, or `prepared` (a web form "
                                    "prepared before the opening, not sent yet).")
    channel: str
    household_id: int | None = Field(description="None once anonymised (RGPD retention).")
    wishes: list[list[str]] = Field(description="What was asked: ranked session codes per wish.")
    submitted_at: dt.datetime | None
    decided_at: dt.datetime | None
    place_in_line: int | None = Field(description="Pending only: applications of the service still waiting for "
                                                  "the allocator before this one, plus one.")
    results: list[WishResultOut] = Field(description="Decided only: one entry per wish, in order.")


class ServiceOut(BaseModel):
    code: str
    name: str
    description: str
    audience: Literal["child", "adult", "household"]
    workflow: Literal["automatic", "manual"]
    opening: dt.datetime
    closing: dt.datetime
    state: Literal["upcoming", "open", "closed"]
    has_sessions: bool


class SessionOut(BaseModel):
    code: str
    label: str
    starts_at: dt.datetime
    capacity: int
    places_left: int
    full: bool
    started: bool
    places_held: int | None = Field(default=None, description="Staff with `read_sessions_fill` only.")
    waiting: int | None = Field(default=None, description="Waiting-list entries; staff with `read_sessions_fill` only.")


class PersonOut(BaseModel):
    id: int
    first_name: str
    last_name: str


class GuardianOut(PersonOut):
    email: str | None


class ChildOut(PersonOut):
    birth_date: dt.date


class HouseholdOut(BaseModel):
    id: int
    name: str
    postcode: str
    city: str
    guardians: list[GuardianOut]
    children: list[ChildOut]


class GrantOut(BaseModel):
    role: str
    service: str | None


class MeOut(BaseModel):
    account_id: int
    email: str
    roles: list[GrantOut]
    household: HouseholdOut | None


class ServicesOut(BaseModel):
    items: list[ServiceOut]


class SessionsOut(BaseModel):
    service: str
    items: list[SessionOut]


class HouseholdsOut(BaseModel):
    items: list[HouseholdOut]


class RegistrationsOut(BaseModel):
    items: list[RegistrationOut]
    next_offset: int | None = Field(description="Pass it as `offset` for the next page; null on the last page.")
