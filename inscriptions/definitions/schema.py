"""The schema of a service definition file (``plugins/<code>/service.yaml``).

Pydantic checks shapes and types; :func:`semantic_problems` checks what spans several settings
(conditions that point to earlier fields, bracket order, pricing fields...). The README's
"Service definition reference" documents every setting.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _required(value: Any) -> Any:
    # ``required: true`` reads naturally in YAML; keep booleans as aliases.
    if value is True:
        return "always"
    if value is False:
        return "never"
    return value


Required = Annotated[Literal["always", "online", "never"], BeforeValidator(_required)]


class Choice(Strict):
    value: str = Field(pattern=NAME_PATTERN)
    label: str


class Condition(Strict):
    """Show a field only when an earlier answer matches (exactly one operator)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    field: str
    equals: str | bool | int | None = None
    in_: list[str] | None = Field(default=None, alias="in")
    contains: str | None = None

    @model_validator(mode="after")
    def _one_operator(self) -> Condition:
        used = [op for op in (self.equals, self.in_, self.contains) if op is not None]
        if len(used) != 1:
            raise ValueError("give exactly one of 'equals', 'in' or 'contains'")
        return self


class BaseField(Strict):
    name: str = Field(pattern=NAME_PATTERN, max_length=40)
    label: str
    help: str = ""
    required: Required = "never"
    show_if: Condition | None = None
    # Health data, PAI, allergies: shown only to roles granted for it, never on lists.
    sensitive: bool = False


class TextField(BaseField):
    type: Literal["text"]
    max_length: int = Field(default=200, ge=1, le=2000)


class LongTextField(BaseField):
    type: Literal["long_text"]
    max_length: int = Field(default=2000, ge=1, le=10000)


class EmailField(BaseField):
    type: Literal["email"]


class PhoneField(BaseField):
    type: Literal["phone_fr"]


class PostcodeField(BaseField):
    type: Literal["postcode_fr"]


class DateField(BaseField):
    type: Literal["date"]
    min: dt.date | None = None
    max: dt.date | None = None


class IntegerField(BaseField):
    type: Literal["integer"]
    min: int | None = None
    max: int | None = None


class SingleChoiceField(BaseField):
    type: Literal["single_choice"]
    choices: list[Choice] = Field(min_length=2)


class MultipleChoiceField(BaseField):
    type: Literal["multiple_choice"]
    choices: list[Choice] = Field(min_length=1)
    min_selected: int | None = Field(default=None, ge=0)
    max_selected: int | None = Field(default=None, ge=1)


class WeekdaysField(BaseField):
    type: Literal["weekdays"]
    days: list[Weekday] = Field(default_factory=lambda: ["mon", "tue", "wed", "thu", "fri"])
    min_selected: int | None = Field(default=None, ge=0)
    max_selected: int | None = Field(default=None, ge=1)


class YesNoField(BaseField):
    type: Literal["yes_no"]


class ConsentField(BaseField):
    type: Literal["consent"]


class FileField(BaseField):
    type: Literal["file"]
    accept: list[Literal["pdf", "jpeg", "png"]] = Field(default_factory=lambda: ["pdf", "jpeg", "png"])
    max_size_mb: int = Field(default=5, ge=1, le=20)


SimpleField = Annotated[
    TextField
    | LongTextField
    | EmailField
    | PhoneField
    | PostcodeField
    | DateField
    | IntegerField
    | SingleChoiceField
    | MultipleChoiceField
    | WeekdaysField
    | YesNoField
    | ConsentField
    | FileField,
    Field(discriminator="type"),
]


class GroupField(BaseField):
    """A repeatable group of fields (e.g. people allowed to pick the child up)."""

    type: Literal["group"]
    fields: list[SimpleField] = Field(min_length=1)
    min_items: int = Field(default=0, ge=0)
    max_items: int = Field(ge=1, le=20)


AnyField = Annotated[SimpleField | GroupField, Field(discriminator="type")]


class Page(Strict):
    title: str
    intro: str = ""
    # Asked once per participant (each child) or once for the whole booking. Defaults to once per
    # participant for child and adult services, once for household services.
    each_participant: bool | None = None
    fields: list[AnyField] = Field(min_length=1)


class Form(Strict):
    pages: list[Page] = Field(min_length=1)


class Bracket(Strict):
    max_qf: int | None = Field(default=None, ge=0)
    price: Decimal = Field(ge=0, decimal_places=2)


class FreePricing(Strict):
    kind: Literal["free"]
    unit: str = ""


class FixedPricing(Strict):
    kind: Literal["fixed"]
    amount: Decimal = Field(ge=0, decimal_places=2)
    unit: str = ""


class BracketPricing(Strict):
    """Quotient familial brackets; the last bracket has no ``max_qf``."""

    kind: Literal["qf_brackets"]
    brackets: list[Bracket] = Field(min_length=1)
    # Charged while the household has given no QF; defaults to the highest bracket.
    without_qf: Decimal | None = Field(default=None, ge=0, decimal_places=2)
    unit: str = ""


class EffortRatePricing(Strict):
    """A percentage of the quotient familial, clamped between a minimum and a maximum."""

    kind: Literal["effort_rate"]
    rate_percent: Decimal = Field(gt=0, le=100)
    min: Decimal = Field(ge=0, decimal_places=2)
    max: Decimal = Field(ge=0, decimal_places=2)
    unit: str = ""


class Tariff(Strict):
    field: str
    label: str
    price: Decimal = Field(ge=0, decimal_places=2)


class TariffPricing(Strict):
    """A price per unit counted by integer fields (e.g. child seats, adult seats)."""

    kind: Literal["tariffs"]
    items: list[Tariff] = Field(min_length=1)
    unit: str = ""


Pricing = Annotated[
    FreePricing | FixedPricing | BracketPricing | EffortRatePricing | TariffPricing,
    Field(discriminator="kind"),
]


class AgeRange(Strict):
    min: int = Field(ge=0, le=120)
    max: int = Field(ge=0, le=120)
    # Age is computed on this date; by default on the day registration opens.
    on: dt.date | None = None


class Eligibility(Strict):
    residents_only: bool = False


class Cancellation(Strict):
    """Whether families may cancel online, and until when (for services with sessions)."""

    allowed: bool = True
    # Services with sessions: online cancelling closes this many hours before the session starts
    # (it always closes once the session has started). None: until the start.
    until_hours_before_start: int | None = Field(default=None, ge=0, le=8760)


class WaitingList(Strict):
    """What happens when a place frees in a full session.

    ``offer``: the next entry gets an offer to accept within ``offer_hours`` (then the next one);
    ``automatic``: the next entry is registered at once (accepted, or submitted for manual review).
    """

    mode: Literal["offer", "automatic"] = "offer"
    offer_hours: int = Field(default=48, ge=1, le=720)


class SessionDef(Strict):
    code: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=40)
    label: str
    starts_at: dt.datetime
    ends_at: dt.datetime | None = None
    capacity: int = Field(ge=1)


class SessionsChoice(Strict):
    """How many sessions one application may ask for (e.g. several weeks of a holiday centre)."""

    min: int = Field(default=1, ge=1)
    max: int = Field(default=1, ge=1)


class Places(Strict):
    """How many places one registration takes: a fixed number, or the sum of integer fields."""

    count: int | None = Field(default=None, ge=1)
    sum_of: list[str] | None = None

    @model_validator(mode="after")
    def _one(self) -> Places:
        if (self.count is None) == (self.sum_of is None):
            raise ValueError("give exactly one of 'count' or 'sum_of'")
        return self


class PriorityWindow(Strict):
    """From ``opens_at`` (local time), the households or participants ``who`` may register.

    ``residents``: households living in the town; ``already_enrolled``: participants who have or
    had an accepted registration in this service (any form version) or in a service listed in
    ``enrolled_in``; ``everyone``: anybody. A participant may register from the earliest window
    that admits them.
    """

    label: str
    opens_at: dt.datetime
    who: Literal["residents", "already_enrolled", "everyone"]


class Limits(Strict):
    """Per-household caps, checked when booking (``None``: no cap)."""

    # Registrations a household may hold in this service (all sessions; waiting entries count).
    per_household: int | None = Field(default=None, ge=1)
    # People (children or adults) registered in one booking.
    per_booking: int | None = Field(default=None, ge=1)


# Facts a priority criterion or a draw weight may test, besides the form's answers (see
# inscriptions.allocation.facts for how each is computed).
ALLOCATION_FACTS = (
    "household.resident",  # the household lives in the town (yes/no)
    "household.qf",  # the household's quotient familial (a number; absent when not given)
    "household.children_enrolled",  # other children of the household enrolled in this service or `enrolled_in`
    "household.single_guardian",  # one guardian only in the household file (yes/no)
    "participant.age",  # age on the service's age day (years)
    "participant.school",  # the child's school, as in the household file
    "participant.class",  # the child's class
)
# Facts that are numbers (tested with at_least / at_most), and yes/no facts (tested with equals).
NUMBER_FACTS = ("household.qf", "household.children_enrolled", "participant.age")
YES_NO_FACTS = ("household.resident", "household.single_guardian")
# Answer types a criterion may test: a short, closed set of values (never free text or a file).
CRITERION_TYPES = ("single_choice", "multiple_choice", "weekdays", "yes_no", "integer", "consent")


class FactTest(Strict):
    """A test on one fact (``fact: household.resident``) or one answer (``answer: both_working``).

    Operators: ``equals`` (a value), ``in`` (one of several values; for a multiple choice, any
    of them ticked), ``at_least`` and ``at_most`` (numbers; both together make a bracket). A
    participant fact or an answer asked for each participant holds when it holds for at least
    one participant of the application (siblings are decided together).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    label: str = Field(min_length=1, max_length=120)
    fact: Literal[ALLOCATION_FACTS] | None = None  # type: ignore[valid-type]
    answer: str | None = None
    equals: str | bool | int | None = None
    in_: list[str | int] | None = Field(default=None, alias="in", min_length=1)
    at_least: int | None = None
    at_most: int | None = None

    @model_validator(mode="after")
    def _one_subject_and_operator(self) -> FactTest:
        if (self.fact is None) == (self.answer is None):
            raise ValueError("give exactly one of 'fact' or 'answer'")
        comparisons = [op for op in (self.equals, self.in_) if op is not None]
        ranges = [op for op in (self.at_least, self.at_most) if op is not None]
        if len(comparisons) + (1 if ranges else 0) != 1:
            raise ValueError("give exactly one of 'equals', 'in', or 'at_least' / 'at_most'")
        if self.at_least is not None and self.at_most is not None and self.at_least > self.at_most:
            raise ValueError("'at_least' is larger than 'at_most'")
        return self


class Criterion(FactTest):
    """A priority criterion (``rule: points``): an application meeting it gets ``points``."""

    code: str = Field(pattern=NAME_PATTERN, max_length=40)
    points: int = Field(ge=1, le=1000)


class DrawWeight(FactTest):
    """A weighted draw: an application meeting the test holds ``weight`` tickets instead of one
    (``weight: 2``: twice as likely to be drawn before any given application of weight 1). An
    application meeting several tests takes the largest weight."""

    weight: int = Field(ge=2, le=100)


class Allocation(Strict):
    """How the allocator orders applications (``allocation:``).

    ``arrival`` (default): in the order they were sent. ``draw``: applications sent between
    ``opening`` and ``draw_at`` (web, counter, paper alike) are ordered by a verifiable draw at
    ``draw_at`` (:mod:`inscriptions.allocation.draw`), those sent later follow by arrival.
    ``points``: the applications sent until ``draw_at`` are ordered by their points (the sum of
    the ``criteria`` they meet, most first), ties broken by the same verifiable draw; those sent
    later follow by arrival. ``weights`` (draw and points) make some applications likelier to
    be drawn first.
    """

    rule: Literal["arrival", "draw", "points"] = "arrival"
    draw_at: dt.datetime | None = None
    criteria: list[Criterion] = Field(default_factory=list, max_length=30)
    weights: list[DrawWeight] = Field(default_factory=list, max_length=10)

    @property
    def uses_draw(self) -> bool:
        """Whether applications sent until ``draw_at`` are drawn (a draw, or points with a draw
        breaking their ties)."""
        return self.rule in ("draw", "points") and self.draw_at is not None


# -- reports (section ``reports``) ------------------------------------------------------------------

# What a count may be grouped by besides answer fields: the child's school or class (from the
# household file) and the session.
REPORT_KEYS = ("child.school", "child.class", "session")
# Answer field types a count may be grouped by (a finite set of values each).
GROUPABLE_TYPES = ("single_choice", "multiple_choice", "weekdays", "yes_no", "consent")


class CountReport(Strict):
    """A table of counts the staff use every day, e.g. the kitchen's meals per school and diet.

    ``group_by``: answer fields (choice, weekdays, yes/no) or ``child.school``, ``child.class``,
    ``session``. ``per_day``: a weekdays field; the report then counts, for each date of the
    period asked, the registrations whose answer includes that date's weekday. ``statuses``: the
    registration statuses counted; ``measure``: count registrations or the places they take.
    """

    code: str = Field(pattern=r"^[a-z][a-z0-9_-]*$", max_length=40)
    label: str
    group_by: list[str] = Field(min_length=1, max_length=4)
    per_day: str | None = None
    # The engine's statuses or the service's own (workflow); default: accepted registrations.
    statuses: list[Annotated[str, Field(pattern=NAME_PATTERN, max_length=20)]] = Field(
        default_factory=lambda: ["accepted"], min_length=1
    )
    measure: Literal["registrations", "places"] = "registrations"


class Reports(Strict):
    """Reports the service declares for its staff (the generic ones need no declaration)."""

    counts: list[CountReport] = Field(default_factory=list)


# Engine default of ``retention_months`` (issue 5, RGPD): two years after the session or period
# ends, enough for a following year's re-enrolment and for disputes, then anonymised.
DEFAULT_RETENTION_MONTHS = 24


class PhotoConsentSetting(Strict):
    """The service asks a separate, optional photo consent for each child (never a condition)."""

    # What the photos are for, shown to the parent beside the yes/no ("photos of the end-of-year show").
    purpose: str


# -- the review workflow (back office) ------------------------------------------------------------

# The engine's own statuses (inscriptions.models.Status), repeated here because this module needs
# no database: a service's extra statuses must not reuse them.
ENGINE_STATUSES = ("submitted", "accepted", "waitlisted", "offered", "rejected", "cancelled")
# Statuses a registration stays in until someone (or a delay) moves it: where moves start from.
OPEN_ENGINE_STATUSES = ("submitted", "waitlisted")
STAFF_ROLES = ("agent", "manager")
StaffRoleName = Literal["agent", "manager"]


class WorkflowStatus(Strict):
    """An extra step of a service's review, e.g. ``pending_documents`` (waiting for a certificate).

    Extra statuses are intermediate: the outcome is always one of the engine's statuses
    (accepted, rejected, cancelled, waitlisted). ``holds_place``: whether a registration in this
    status keeps its place in the session (counted against the capacity).
    """

    code: str = Field(pattern=NAME_PATTERN, max_length=20)
    label: str = Field(min_length=1, max_length=80)
    holds_place: bool = True


class WorkflowMove(Strict):
    """Which staff roles may move a registration from ``from`` to each status of ``to``."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    from_: str = Field(alias="from")
    to: list[str] = Field(min_length=1)
    roles: list[StaffRoleName] = Field(min_length=1)


class AutoTransition(Strict):
    """Move registrations left ``after_days`` (or ``after_hours``) in ``from`` to ``to``.

    Run by ``inscriptions workflow run`` (cron); the delay counts from the moment the registration
    entered ``from``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    from_: str = Field(alias="from")
    to: str
    after_days: int | None = Field(default=None, ge=1, le=365)
    after_hours: int | None = Field(default=None, ge=1, le=8760)
    reason: str = Field(default="", max_length=200)

    @model_validator(mode="after")
    def _one_delay(self) -> AutoTransition:
        if (self.after_days is None) == (self.after_hours is None):
            raise ValueError("give exactly one of 'after_days' or 'after_hours'")
        return self

    @property
    def delay(self) -> dt.timedelta:
        return dt.timedelta(days=self.after_days or 0, hours=self.after_hours or 0)


class WorkflowRules(Strict):
    """The optional part of ``workflow`` written as a mapping (``workflow: {mode: manual, ...}``).

    Without it a service keeps the engine's moves, open to its agents and managers.
    """

    statuses: list[WorkflowStatus] = Field(default_factory=list)
    # None: every move the engine allows (see registrations.status.service_transitions), for
    # agents and managers. Given: only the moves listed, for the roles listed.
    transitions: list[WorkflowMove] | None = None
    automatic: list[AutoTransition] = Field(default_factory=list)
    # Answer fields (single choice or yes/no) the back office's queue can be filtered on;
    # None: every single choice field of the form that is not sensitive.
    queue_filters: list[str] | None = None


class ServiceDefinition(Strict):
    code: str = Field(pattern=r"^[a-z][a-z0-9_-]{1,39}$")
    name: str
    description: str = ""
    reference_prefix: str = Field(pattern=r"^[A-Z]{2,5}$")
    audience: Literal["child", "adult", "household"]
    age: AgeRange | None = None
    eligibility: Eligibility = Field(default_factory=Eligibility)
    opening: dt.datetime
    closing: dt.datetime
    # ``automatic`` or ``manual``; a mapping ``{mode, statuses, transitions, automatic,
    # queue_filters}`` is read into ``workflow`` (the mode) and ``workflow_rules`` (the rest).
    workflow: Literal["automatic", "manual"]
    workflow_rules: WorkflowRules | None = None
    cancellation: Cancellation = Field(default_factory=Cancellation)
    waiting_list: WaitingList = Field(default_factory=WaitingList)
    # Months after the session (or the service's period) ends before registrations are anonymised
    # by ``inscriptions privacy purge``.
    retention_months: int = Field(default=DEFAULT_RETENTION_MONTHS, ge=1, le=120)
    # Photo consent per child, given and withdrawn in the family area (see inscriptions.privacy).
    photo_consent: PhotoConsentSetting | None = None
    pricing: Pricing
    sessions: list[SessionDef] = Field(default_factory=list)
    # Several sessions in one application (each decided on its own, siblings together in each).
    sessions_choice: SessionsChoice = Field(default_factory=SessionsChoice)
    # Ranked alternatives after each first choice ("Tuesday 17:00, else Thursday 17:00"): the
    # allocator gives the first one with room, else puts the family on the first choice's list.
    alternatives: int = Field(default=0, ge=0, le=5)
    places: Places = Field(default_factory=lambda: Places(count=1))
    # Opening day rules (see PriorityWindow); without windows, ``opening`` applies to everyone.
    priority_windows: list[PriorityWindow] = Field(default_factory=list)
    enrolled_in: list[str] = Field(default_factory=list)
    limits: Limits = Field(default_factory=Limits)
    # Several people booked into a session with room for only some of them: ``together`` puts
    # them all on the waiting list; ``parent_chooses`` refuses the booking and says how many
    # places are left (the family books fewer people, or asks for the waiting list together).
    waitlist_siblings: Literal["together", "parent_chooses"] = "together"
    # The order in which the allocator takes applications (arrival, or a draw at a date).
    allocation: Allocation = Field(default_factory=Allocation)
    form: Form
    # Counts and lists declared for the staff (see Reports); checked by _report_problems.
    reports: Reports = Field(default_factory=Reports)

    @model_validator(mode="before")
    @classmethod
    def _split_workflow(cls, data: Any) -> Any:
        # ``workflow: manual`` stays valid; the long form carries the configurable workflow.
        if isinstance(data, dict) and isinstance(data.get("workflow"), dict):
            data = dict(data)
            rules = dict(data.pop("workflow"))
            mode = rules.pop("mode", None)
            if mode is not None:  # else reported as "workflow: this setting is required"
                data["workflow"] = mode
            data["workflow_rules"] = rules
        return data

    @model_serializer(mode="wrap")
    def _join_workflow(self, handler: SerializerFunctionWrapHandler) -> Any:
        # Dumped as written: a definition without rules keeps its fingerprint (no new form version).
        data = handler(self)
        if isinstance(data, dict) and "workflow_rules" in data:
            rules = data.pop("workflow_rules")
            if rules is not None:
                data["workflow"] = {"mode": data["workflow"], **rules}
        return data

    # -- convenience for the engine ------------------------------------------------------------
    def page_is_per_participant(self, page: Page) -> bool:
        if self.audience == "household":
            return False
        return True if page.each_participant is None else page.each_participant

    def iter_fields(self) -> list[tuple[int, AnyField]]:
        """All top-level fields with their page index, in form order."""
        return [(i, f) for i, page in enumerate(self.form.pages) for f in page.fields]

    def field(self, name: str) -> AnyField:
        for _, f in self.iter_fields():
            if f.name == name:
                return f
        raise KeyError(name)

    def session(self, code: str) -> SessionDef | None:
        return next((s for s in self.sessions if s.code == code), None)


def _condition_problems(
    cond: Condition, earlier: dict[str, Any], path: str
) -> list[tuple[str, str]]:
    target = earlier.get(cond.field)
    if target is None:
        return [(f"{path}.show_if.field", f"refers to {cond.field!r}, which is not an earlier field")]
    problems: list[tuple[str, str]] = []
    choices: set[str] | None = None
    if isinstance(target, SingleChoiceField | MultipleChoiceField):
        choices = {c.value for c in target.choices}
    elif isinstance(target, WeekdaysField):
        choices = set(target.days)
    if isinstance(target, MultipleChoiceField | WeekdaysField) and cond.contains is None:
        # Such an answer is a list: 'equals' or 'in' would never match and the field stay hidden.
        problems.append((f"{path}.show_if", f"{cond.field!r} takes several answers: use 'contains'"))
    if cond.contains is not None:
        if not isinstance(target, MultipleChoiceField | WeekdaysField):
            problems.append((f"{path}.show_if.contains", "only works on multiple choice or weekdays fields"))
        elif choices is not None and cond.contains not in choices:
            problems.append((f"{path}.show_if.contains", f"{cond.contains!r} is not a choice of {cond.field!r}"))
    if isinstance(target, YesNoField | ConsentField) and cond.equals is not None and not isinstance(cond.equals, bool):
        problems.append((f"{path}.show_if.equals", "must be true or false for a yes/no field"))
    if isinstance(target, SingleChoiceField):
        values = [cond.equals] if cond.equals is not None else (cond.in_ or [])
        for value in values:
            if value not in (choices or set()):
                problems.append((f"{path}.show_if", f"{value!r} is not a choice of {cond.field!r}"))
    return problems


def semantic_problems(defn: ServiceDefinition) -> list[tuple[str, str]]:
    """Checks that span several settings; returns ``(path, message)`` pairs."""
    problems: list[tuple[str, str]] = []
    seen: dict[str, Any] = {}
    shared_names: set[str] = set()
    for p, page in enumerate(defn.form.pages):
        per_participant = defn.page_is_per_participant(page)
        for f, fld in enumerate(page.fields):
            path = f"form.pages[{p}].fields[{f}] ({fld.name})"
            if fld.name in seen:
                problems.append((f"{path}.name", f"{fld.name!r} is used twice in this form"))
            if fld.show_if is not None:
                problems += _condition_problems(fld.show_if, seen, path)
                if not per_participant and fld.show_if.field in seen and fld.show_if.field not in shared_names:
                    problems.append((
                        f"{path}.show_if.field",
                        "a page asked once cannot depend on a field asked for each participant",
                    ))
            if isinstance(fld, GroupField):
                inner: dict[str, Any] = {}
                if fld.min_items > fld.max_items:
                    problems.append((f"{path}.min_items", "is larger than max_items"))
                for s, sub in enumerate(fld.fields):
                    sub_path = f"{path}.fields[{s}] ({sub.name})"
                    if sub.name in inner:
                        problems.append((f"{sub_path}.name", f"{sub.name!r} is used twice in this group"))
                    if sub.show_if is not None:
                        problems += _condition_problems(sub.show_if, inner, sub_path)
                    inner[sub.name] = sub
            problems += _range_problems(fld, path)
            seen[fld.name] = fld
            if not per_participant:
                shared_names.add(fld.name)
    if defn.audience == "household":
        for p, page in enumerate(defn.form.pages):
            if page.each_participant:
                problems.append((f"form.pages[{p}].each_participant",
                                 "a household service has no participants to ask for"))
        if defn.age is not None:
            problems.append(("age", "a household service has no participant whose age to check"))
    if defn.age is not None and defn.age.min > defn.age.max:
        problems.append(("age.min", "is larger than age.max"))
    if defn.closing <= defn.opening:
        problems.append(("closing", "must be after opening"))
    codes = [s.code for s in defn.sessions]
    for i, code in enumerate(codes):
        if code in codes[:i]:
            problems.append((f"sessions[{i}].code", f"{code!r} is used twice"))
    for i, sess in enumerate(defn.sessions):
        if sess.ends_at is not None and sess.ends_at <= sess.starts_at:
            problems.append((f"sessions[{i}].ends_at", "must be after starts_at"))
    if defn.cancellation.until_hours_before_start is not None and not defn.sessions:
        problems.append(("cancellation.until_hours_before_start",
                         "only applies to services with sessions (there is no start to count from)"))
    problems += _pricing_problems(defn, seen)
    problems += _booking_rule_problems(defn)
    problems += _allocation_problems(defn, seen)
    problems += workflow_problems(defn, seen)
    problems += _report_problems(defn, seen)
    if defn.places.sum_of:
        for name in defn.places.sum_of:
            if not isinstance(seen.get(name), IntegerField):
                problems.append(("places.sum_of", f"{name!r} is not an integer field of the form"))
    return problems


def _report_problems(defn: ServiceDefinition, fields: dict[str, Any]) -> list[tuple[str, str]]:
    """Declared counts group by fields that exist, hold few values and are not health data."""
    problems: list[tuple[str, str]] = []
    codes: list[str] = []
    for i, report in enumerate(defn.reports.counts):
        path = f"reports.counts[{i}] ({report.code})"
        if report.code in codes:
            problems.append((f"{path}.code", f"{report.code!r} is used twice"))
        codes.append(report.code)
        for j, key in enumerate(report.group_by):
            where = f"{path}.group_by[{j}]"
            if key in report.group_by[:j]:
                problems.append((where, f"{key!r} is listed twice"))
            elif key.startswith("child."):
                if key not in REPORT_KEYS:
                    problems.append((where, f"{key!r} is not one of {', '.join(REPORT_KEYS)}"))
                elif defn.audience != "child":
                    problems.append((where, "only a child service has children to group by"))
            elif key == "session":
                if not defn.sessions:
                    problems.append((where, "this service has no sessions"))
            else:
                fld = fields.get(key)
                if fld is None:
                    problems.append((where, f"{key!r} is not a field of the form"))
                elif fld.type not in GROUPABLE_TYPES:
                    problems.append((where, f"{key!r} is a {fld.type} field: group by choice, weekdays "
                                            "or yes/no fields"))
                elif fld.sensitive:
                    # Counts go to people who may not read health data (the kitchen, agents).
                    problems.append((where, f"{key!r} is flagged sensitive: it cannot be counted in a report"))
        if report.per_day is not None:
            fld = fields.get(report.per_day)
            if not isinstance(fld, WeekdaysField):
                problems.append((f"{path}.per_day", f"{report.per_day!r} is not a weekdays field of the form"))
            elif report.per_day in report.group_by:
                problems.append((f"{path}.per_day", "is already counted by day: remove it from group_by"))
    return problems


def _range_problems(fld: Any, path: str) -> list[tuple[str, str]]:
    lo = getattr(fld, "min", None)
    hi = getattr(fld, "max", None)
    if lo is not None and hi is not None and lo > hi:
        return [(f"{path}.min", "is larger than max")]
    lo = getattr(fld, "min_selected", None)
    hi = getattr(fld, "max_selected", None)
    if lo is not None and hi is not None and lo > hi:
        return [(f"{path}.min_selected", "is larger than max_selected")]
    return []


def _pricing_problems(defn: ServiceDefinition, fields: dict[str, Any]) -> list[tuple[str, str]]:
    pricing = defn.pricing
    problems: list[tuple[str, str]] = []
    if isinstance(pricing, BracketPricing):
        limits = [b.max_qf for b in pricing.brackets]
        if limits[-1] is not None:
            problems.append((f"pricing.brackets[{len(limits) - 1}].max_qf",
                             "the last bracket must have no max_qf (it covers every higher QF)"))
        bounded = [x for x in limits[:-1]]
        if any(x is None for x in bounded):
            problems.append(("pricing.brackets", "only the last bracket may omit max_qf"))
        elif bounded != sorted(bounded) or len(set(bounded)) != len(bounded):
            problems.append(("pricing.brackets", "brackets must be in increasing order of max_qf"))
    elif isinstance(pricing, EffortRatePricing):
        if pricing.min > pricing.max:
            problems.append(("pricing.min", "is larger than pricing.max"))
    elif isinstance(pricing, TariffPricing):
        for i, item in enumerate(pricing.items):
            if not isinstance(fields.get(item.field), IntegerField):
                problems.append((f"pricing.items[{i}].field", f"{item.field!r} is not an integer field of the form"))
    return problems


def _booking_rule_problems(defn: ServiceDefinition) -> list[tuple[str, str]]:
    """Priority windows, limits and the siblings policy must make sense together."""
    problems: list[tuple[str, str]] = []
    windows = defn.priority_windows
    for i, window in enumerate(windows):
        if window.opens_at < defn.opening:
            problems.append((f"priority_windows[{i}].opens_at", "is before 'opening'"))
        elif window.opens_at >= defn.closing:
            problems.append((f"priority_windows[{i}].opens_at", "must be before 'closing'"))
    if windows and min(w.opens_at for w in windows) > defn.opening:
        problems.append(("priority_windows", "the earliest window must open at 'opening' "
                         f"({defn.opening.isoformat(sep=' ', timespec='minutes')})"))
    whos = [w.who for w in windows]
    for i, who in enumerate(whos):
        if who in whos[:i]:
            problems.append((f"priority_windows[{i}].who", f"{who!r} already has a window"))
    counts_enrolled = any(t.fact == "household.children_enrolled"
                          for t in (*defn.allocation.criteria, *defn.allocation.weights))
    if defn.enrolled_in and "already_enrolled" not in whos and not counts_enrolled:
        problems.append(("enrolled_in", "only used by a priority window for 'already_enrolled' "
                         "or by 'household.children_enrolled' in 'allocation'"))
    for i, code in enumerate(defn.enrolled_in):
        if not re.fullmatch(r"[a-z][a-z0-9_-]{1,39}", code):
            problems.append((f"enrolled_in[{i}]", f"{code!r} is not a service code"))
    if defn.audience == "household" and defn.limits.per_booking is not None:
        problems.append(("limits.per_booking", "a household service books the household alone"))
    choice = defn.sessions_choice
    if choice.min > choice.max:
        problems.append(("sessions_choice.min", "is larger than sessions_choice.max"))
    if (choice.min, choice.max) != (1, 1) and not defn.sessions:
        problems.append(("sessions_choice", "only applies to services with sessions"))
    elif choice.max > len(defn.sessions) and defn.sessions:
        problems.append(("sessions_choice.max", f"is larger than the number of sessions ({len(defn.sessions)})"))
    if defn.alternatives and not defn.sessions:
        problems.append(("alternatives", "only applies to services with sessions"))
    elif defn.alternatives and defn.alternatives >= len(defn.sessions):
        problems.append(("alternatives", f"a first choice and {defn.alternatives} alternative(s) need more "
                         f"sessions than the {len(defn.sessions)} offered"))
    if defn.waitlist_siblings != "together" and (defn.audience == "household" or not defn.sessions):
        problems.append(("waitlist_siblings", "only applies to child or adult services with sessions"))
    if defn.photo_consent is not None and defn.audience != "child":
        problems.append(("photo_consent", "is asked for each child: only for 'child' services"))
    return problems


def _allocation_problems(defn: ServiceDefinition, fields: dict[str, Any]) -> list[tuple[str, str]]:
    allocation = defn.allocation
    rule, draw_at = allocation.rule, allocation.draw_at
    problems: list[tuple[str, str]] = []
    if rule in ("draw", "points") and draw_at is None:
        problems.append(("allocation.draw_at", f"'rule: {rule}' needs its date: when the applications "
                         "received until then are ranked"))
    if rule == "arrival" and draw_at is not None:
        problems.append(("allocation.draw_at", "only used with 'rule: draw' or 'rule: points'"))
    if draw_at is not None and draw_at <= defn.opening:
        problems.append(("allocation.draw_at", "must be after 'opening' (the applications are received in between)"))
    elif draw_at is not None and draw_at > defn.closing:
        problems.append(("allocation.draw_at", "must not be after 'closing'"))
    if rule == "points" and not allocation.criteria:
        problems.append(("allocation.criteria", "'rule: points' needs at least one criterion"))
    if rule != "points" and allocation.criteria:
        problems.append(("allocation.criteria", "only used with 'rule: points'"))
    if rule == "arrival" and allocation.weights:
        problems.append(("allocation.weights", "only used with 'rule: draw' or 'rule: points'"))
    codes: list[str] = []
    for i, criterion in enumerate(allocation.criteria):
        path = f"allocation.criteria[{i}] ({criterion.code})"
        if criterion.code in codes:
            problems.append((f"{path}.code", f"{criterion.code!r} is used twice"))
        codes.append(criterion.code)
        problems += _fact_test_problems(criterion, fields, path)
    for i, weight in enumerate(allocation.weights):
        problems += _fact_test_problems(weight, fields, f"allocation.weights[{i}]")
    return problems


def _fact_test_problems(test: FactTest, fields: dict[str, Any], path: str) -> list[tuple[str, str]]:
    """A criterion or weight tests something that exists, with an operator that fits it, and never
    health data."""
    numeric = test.at_least is not None or test.at_most is not None
    if test.fact is not None:
        if test.fact in NUMBER_FACTS and not numeric and test.in_ is None:
            return [(f"{path}.fact", f"{test.fact!r} is a number: test it with 'at_least' / 'at_most' or 'in'")]
        if test.fact in YES_NO_FACTS and not isinstance(test.equals, bool):
            return [(f"{path}.fact", f"{test.fact!r} is yes or no: test it with 'equals: true' or 'equals: false'")]
        if test.fact not in NUMBER_FACTS and test.fact not in YES_NO_FACTS and numeric:
            return [(f"{path}.fact", f"{test.fact!r} is not a number: test it with 'equals' or 'in'")]
        return []
    fld = fields.get(test.answer)
    if fld is None:
        return [(f"{path}.answer", f"{test.answer!r} is not a field of the form")]
    if fld.sensitive:
        return [(f"{path}.answer", f"{test.answer!r} is sensitive (health data): it may never weigh on a place")]
    if fld.type not in CRITERION_TYPES:
        return [(f"{path}.answer", f"a criterion tests a choice, yes/no or number field, not a {fld.type!r} field")]
    if numeric and fld.type != "integer":
        return [(f"{path}.answer", f"'at_least' / 'at_most' test a number field; {test.answer!r} "
                 f"is a {fld.type!r} field")]
    choices = {c.value for c in getattr(fld, "choices", [])} or set(getattr(fld, "days", []))
    values = [test.equals] if test.equals is not None else list(test.in_ or [])
    if choices:
        unknown = [v for v in values if v not in choices]
        if unknown:
            return [(f"{path}.answer", f"{unknown[0]!r} is not a choice of {test.answer!r}")]
    if fld.type in ("yes_no", "consent") and not isinstance(test.equals, bool):
        return [(f"{path}.answer", f"{test.answer!r} is yes or no: test it with 'equals: true' or 'equals: false'")]
    return []


# Moves the engine allows between its own statuses (kept in step with registrations.status.TRANSITIONS,
# which a test checks); offers are made by the waiting list only, never by hand.
ENGINE_MOVES: dict[str, tuple[str, ...]] = {
    "submitted": ("accepted", "waitlisted", "rejected", "cancelled"),
    "waitlisted": ("accepted", "rejected", "cancelled"),
    "offered": ("accepted", "submitted", "waitlisted", "cancelled"),
    "accepted": ("cancelled",),
    "rejected": (),
    "cancelled": (),
}
# Where an extra status may lead: the engine's outcomes, or back to review.
FROM_EXTRA = ("submitted", "accepted", "waitlisted", "rejected", "cancelled")


def service_moves(defn: ServiceDefinition) -> dict[str, tuple[str, ...]]:
    """Every move possible in this service: the engine's, plus those through its extra statuses.

    A registration may go from ``submitted`` (or the waiting list) to an extra status, from an
    extra status to another one, to one of the engine's outcomes, or back to ``submitted``.
    """
    extra = [s.code for s in defn.workflow_rules.statuses] if defn.workflow_rules else []
    moves = {status: tuple(targets) for status, targets in ENGINE_MOVES.items()}
    for status in OPEN_ENGINE_STATUSES:
        moves[status] = moves[status] + tuple(extra)
    for code in extra:
        moves[code] = FROM_EXTRA + tuple(c for c in extra if c != code)
    return moves


def workflow_problems(defn: ServiceDefinition, fields: dict[str, Any]) -> list[tuple[str, str]]:
    """The ``workflow`` mapping: statuses, moves and delays must name statuses that exist."""
    rules = defn.workflow_rules
    if rules is None:
        return []
    problems: list[tuple[str, str]] = []
    codes: list[str] = []
    for i, status in enumerate(rules.statuses):
        if status.code in ENGINE_STATUSES:
            problems.append((f"workflow.statuses[{i}].code",
                             f"{status.code!r} is a status of the engine: choose another code"))
        elif status.code in codes:
            problems.append((f"workflow.statuses[{i}].code", f"{status.code!r} is used twice"))
        codes.append(status.code)
    known = set(ENGINE_STATUSES) | set(codes)
    moves = service_moves(defn)
    for i, move in enumerate(rules.transitions or []):
        path = f"workflow.transitions[{i}]"
        if move.from_ not in known:
            problems.append((f"{path}.from", f"unknown status {move.from_!r}; expected one of {sorted(known)}"))
            continue
        for j, target in enumerate(move.to):
            if target not in known:
                problems.append((f"{path}.to[{j}]", f"unknown status {target!r}; expected one of {sorted(known)}"))
            elif target == "offered":
                problems.append((f"{path}.to[{j}]", "places are offered by the waiting list, never by hand"))
            elif target not in moves.get(move.from_, ()):
                problems.append((f"{path}.to[{j}]", f"the engine never moves a registration from "
                                 f"{move.from_!r} to {target!r}"))
    for i, auto in enumerate(rules.automatic):
        path = f"workflow.automatic[{i}]"
        if auto.from_ not in known:
            problems.append((f"{path}.from", f"unknown status {auto.from_!r}; expected one of {sorted(known)}"))
        elif auto.from_ not in (*OPEN_ENGINE_STATUSES, *codes):
            problems.append((f"{path}.from", f"{auto.from_!r} is not a status registrations wait in "
                             "(use 'submitted', 'waitlisted' or an extra status)"))
        elif auto.to not in known:
            problems.append((f"{path}.to", f"unknown status {auto.to!r}; expected one of {sorted(known)}"))
        elif auto.to == "offered" or auto.to not in moves.get(auto.from_, ()):
            problems.append((f"{path}.to", f"the engine never moves a registration from {auto.from_!r} to {auto.to!r}"))
    for i, name in enumerate(rules.queue_filters or []):
        target = fields.get(name)
        if target is None:
            problems.append((f"workflow.queue_filters[{i}]", f"{name!r} is not a field of the form"))
        elif target.sensitive:
            problems.append((f"workflow.queue_filters[{i}]", f"{name!r} is sensitive: it is never shown in lists"))
        elif not isinstance(target, SingleChoiceField | YesNoField):
            problems.append((f"workflow.queue_filters[{i}]", f"{name!r} is not a single choice or yes/no field"))
    return problems
