"""Forms of the counter: the access reason, a new household, and the set-up of a form entry.

The household form reuses the family area's forms (same fields, same messages, same checks), one
instance per person with its own prefix; the service's own questions are generated from the
definition by :mod:`inscriptions.forms.web`, never written here.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_wtf import FlaskForm
from wtforms import HiddenField, RadioField, SelectField, SelectMultipleField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from inscriptions import clock
from inscriptions.allocation.status import rank_label
from inscriptions.counter.access import REASONS
from inscriptions.definitions import schema as s
from inscriptions.definitions.loader import LoadedService
from inscriptions.family.forms import BirthDateField, ChildForm, GuardianForm, HouseholdForm, strip
from inscriptions.forms.validation import _as_date
from inscriptions.forms.validation import _Invalid as InvalidAnswer
from inscriptions.forms.web import ErrorLink
from inscriptions.portal import catalogue

# Channels an agent keys a form for; "web" and "api" are the family's and machines' own.
COUNTER_CHANNELS: dict[str, Any] = {
    "counter": _l("At the counter"),
    "paper": _l("Paper form"),
    "phone": _l("Phone"),
    "mail": _l("Letter"),
}
# Channels where the date the paper arrived matters (deadlines, first come first served).
RECEIVED_REQUIRED = ("paper", "mail")
# How many child lines the new-household form shows at first, and at most.
CHILD_LINES, CHILD_LINES_MAX = 3, 8
MEDIATION_MAX = 500


def choices(pairs: Any) -> list[SelectChoice]:
    """WTForms choices from ``(value, label)`` pairs (tuples are deprecated in WTForms 3.3)."""
    return [SelectChoice(str(value), label) for value, label in pairs]


def today() -> dt.date:
    return clock.now().astimezone(clock.local_zone()).date()


def parse_day(text: str) -> dt.date:
    """A date typed as ``01/03/2026``, ``01032026`` or ``2026-03-01`` (the engine's formats)."""
    try:
        return _as_date(text)
    except InvalidAnswer as exc:
        raise ValidationError(str(exc.message)) from None


class AccessReasonForm(FlaskForm):
    """Why the agent opens this household's file (asked once per household and session)."""

    reason = RadioField(
        _l("Why are you opening this family's file?"),
        choices=choices(REASONS.items()),
        validators=[DataRequired(_l("Choose the reason for opening this file."))],
        validate_choice=True,
    )
    detail = StringField(
        _l("Details (required for “Other reason”)"),
        description=_l("For example: request for a certificate, change of address."),
        filters=[strip],
        validators=[Optional(), Length(max=200)],
    )

    def validate(self, extra_validators: Any = None) -> bool:
        ok = super().validate(extra_validators)
        # Not an inline validator: Optional() stops the chain on an empty field before it runs.
        if self.reason.data == "other" and not self.detail.data:
            self.detail.errors = [*self.detail.errors, _l("Say in a few words why you open this file.")]
            ok = False
        return ok


# -- a household for a family without e-mail -------------------------------------------------------

class CounterGuardianForm(GuardianForm):
    """A guardian keyed by an agent: e-mail and phone optional, as for families."""

    class Meta:
        csrf = False


_BIRTH = ChildForm.birth_date


class CounterChildForm(ChildForm):
    """A child keyed by an agent; the date of birth also accepts ``01032018`` (typed without slashes)."""

    class Meta:
        csrf = False

    birth_date = BirthDateField(
        *_BIRTH.args,
        **{**_BIRTH.kwargs, "format": ["%d/%m/%Y", "%d%m%Y", "%Y-%m-%d", "%d-%m-%Y", "%d.%m.%Y"]},
    )


class CounterHouseholdForm(HouseholdForm):
    """The household's address and quotient familial (the CSRF token travels with this one)."""


def is_blank(form: FlaskForm) -> bool:
    """Whether nothing was typed in this (optional) person's lines."""
    for field in form:
        if field.type in ("CSRFTokenField", "HiddenField"):
            continue
        if field.type == "SelectField":
            if field.raw_data and field.raw_data[0]:
                return False
            continue
        if field.raw_data and any(str(v).strip() for v in field.raw_data):
            return False
    return True


# -- set-up of a form entry ------------------------------------------------------------------------

class EntrySetupForm(FlaskForm):
    """Who, which channel, when the paper arrived and why: before the questions (the sessions
    are asked by :class:`SessionChoiceForm`, posted with it under the same prefix).

    Choices depend on the service and household and are set by the view. No CSRF field of its
    own: the entry page posts the app-wide token (CSRFProtect checks every POST).
    """

    class Meta:
        csrf = False

    participant = SelectMultipleField(
        _l("Who is registered?"), choices=[], validate_choice=False,
        widget=ListWidget(prefix_label=False), option_widget=CheckboxInput(),
    )
    channel = RadioField(
        _l("How did the family give this form?"),
        choices=choices(COUNTER_CHANNELS.items()),
        default="counter",
        validators=[DataRequired(_l("Choose how the family gave this form."))],
        validate_choice=True,
    )
    received_on = StringField(
        _l("Date received"),
        description=_l("Required for a paper form or a letter: the day it reached the town, "
                       "for example 01/03/2026 or 01032026."),
        filters=[strip],
    )
    mediation_reason = StringField(
        _l("Mediation reason (optional)"),
        description=_l("Why the form is keyed by the town, for example: no internet access."),
        filters=[strip],
        validators=[Optional(), Length(max=MEDIATION_MAX)],
    )
    version = HiddenField()

    def __init__(self, *args: Any, participants: list[tuple[str, str]], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.participant.choices = choices(participants)
        self.received_day: dt.date | None = None

    def validate_participant(self, field: Any) -> None:
        allowed = {choice.value for choice in self.participant.choices}
        if not allowed:
            field.data = []
            return
        chosen = field.data or []
        if not chosen:
            raise ValidationError(_l("Choose who to register."))
        if any(value not in allowed for value in chosen) or len(set(chosen)) != len(chosen):
            raise ValidationError(_l("Choose only people of this household who can register."))

    def validate_received_on(self, field: Any) -> None:
        if not field.data:
            if self.channel.data in RECEIVED_REQUIRED:
                raise ValidationError(_l("Enter the date the paper was received."))
            return
        day = parse_day(field.data)
        if day > today():
            raise ValidationError(_l("The date received cannot be in the future."))
        self.received_day = day


# -- which sessions: one, several, or ranked choices ---------------------------------------------

# How a service's sessions are asked (see :func:`session_mode`).
ONE, MANY, RANKED = "one", "many", "ranked"


def session_mode(defn: s.ServiceDefinition) -> str | None:
    """``one`` session (radio buttons), ``many`` (a box per session, ``sessions_choice.max`` > 1),
    ``ranked`` (``alternatives`` > 0: a first choice and its alternatives per session wanted);
    None for a service without sessions."""
    if not defn.sessions:
        return None
    if defn.alternatives:
        return RANKED
    return MANY if defn.sessions_choice.max > 1 else ONE


def choice_hint(defn: s.ServiceDefinition) -> str:
    """How many sessions to choose, in words (the hint of the counter's session inputs)."""
    low, high = defn.sessions_choice.min, defn.sessions_choice.max
    if low == high:
        return ngettext("Choose %(num)s session.", "Choose %(num)s sessions.", high)
    return _("Choose at least %(min)s and at most %(max)s sessions.", min=low, max=high)


class SessionChoiceForm(FlaskForm):
    """The sessions an agent keys for a booking: one (radio buttons), several (a box per session)
    or, with ranked alternatives, per session wanted a first choice and its alternatives (one
    list each, ``wish-<wish>-<rank>``). Posted with the entry set-up under the same prefix
    (``setup-session``, ``setup-sessions``, ``setup-wish-1-2``), and by the scan check.

    ``wishes`` is what :class:`~inscriptions.registrations.create.RegistrationInput` takes. The
    checks are those of the booking (at least / at most, an alternative equal to a choice...),
    made here first so each error shows on its own list and nothing typed is lost.
    """

    class Meta:
        csrf = False

    session = RadioField(_l("Which session?"), choices=[], validate_choice=False)
    sessions = SelectMultipleField(
        _l("Which sessions?"), choices=[], validate_choice=False,
        widget=ListWidget(prefix_label=False), option_widget=CheckboxInput(),
    )

    def __init__(self, *args: Any, defn: s.ServiceDefinition, sessions: list[tuple[str, str]],
                 cells: dict[tuple[int, int], str] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.defn = defn
        self.mode = session_mode(defn)
        self.session.choices = choices(sessions)
        self.sessions.choices = choices(sessions)
        self.labels = {code: label for code, label in sessions}
        # Ranked mode: rows[wish] is the lists of one session wanted, first choice first.
        self.rows: list[list[Any]] = []
        if self.mode == RANKED:
            formdata = kwargs.get("formdata")
            options = [SelectChoice("", _("– none –")), *choices(sessions)]
            for wish in range(1, defn.sessions_choice.max + 1):
                row = []
                for rank in range(1, defn.alternatives + 2):
                    unbound = SelectField(rank_label(rank), choices=options, validate_choice=False)
                    bound = unbound.bind(form=self, name=f"wish-{wish}-{rank}", prefix=self._prefix)
                    bound.process(formdata, data=(cells or {}).get((wish, rank), ""))
                    # The error summary names the list in full: "Session wanted no. 2 – 1st choice".
                    bound.summary_label = (_("Session wanted no. %(n)s", n=wish) + " – " + rank_label(rank)
                                           if defn.sessions_choice.max > 1 else rank_label(rank))
                    row.append(bound)
                self.rows.append(row)

    @property
    def fields(self) -> list[Any]:
        """The inputs the page shows, in order (for the error summary and the hidden copies)."""
        if self.mode == ONE:
            return [self.session]
        if self.mode == MANY:
            return [self.sessions]
        return [cell for row in self.rows for cell in row]

    def validate(self, extra_validators: Any = None) -> bool:
        super().validate(extra_validators)
        if self.mode is None:
            return True
        for fld in self.fields:
            fld.errors = list(fld.errors)
        if self.mode == ONE:
            if self.session.data not in self.labels:
                self.session.errors.append(_("Choose a session."))
        elif self.mode == MANY:
            self._check_many()
        else:
            self._check_ranked()
        return not any(fld.errors for fld in self.fields)

    def _check_many(self) -> None:
        chosen = self.sessions.data or []
        choice = self.defn.sessions_choice
        if any(code not in self.labels for code in chosen) or len(set(chosen)) != len(chosen):
            self.sessions.errors.append(_("Choose only sessions of this list."))
        elif not chosen and choice.min == 1:
            self.sessions.errors.append(_("Choose a session."))
        elif len(chosen) < choice.min:
            self.sessions.errors.append(ngettext("Choose at least %(num)s session.",
                                                 "Choose at least %(num)s sessions.", choice.min))
        elif len(chosen) > choice.max:
            self.sessions.errors.append(ngettext("Choose at most %(num)s session.",
                                                 "Choose at most %(num)s sessions.", choice.max))

    def _check_ranked(self) -> None:
        seen: set[str] = set()
        wanted = 0
        for row in self.rows:
            values = [cell.data or "" for cell in row]
            for rank, cell in enumerate(row):
                if not values[rank]:
                    if any(values[rank + 1:]):
                        cell.errors.append(_("Fill in the choices in order: the 1st choice first, "
                                             "then the alternatives."))
                    continue
                if values[rank] not in self.labels:
                    cell.errors.append(_("Choose only sessions of this list."))
                elif values[rank] in seen:
                    cell.errors.append(_("The same session is chosen twice: an alternative must "
                                         "differ from the first choice and from the other choices."))
                seen.add(values[rank])
            wanted += bool(values[0])
        minimum = self.defn.sessions_choice.min
        if wanted < minimum:
            empty = next((row[0] for row in self.rows if not row[0].data), self.rows[0][0])
            if not empty.errors:
                empty.errors.append(_("Choose a session.") if minimum == 1 else ngettext(
                    "Choose at least %(num)s session.", "Choose at least %(num)s sessions.", minimum))

    @property
    def wishes(self) -> list[list[str]]:
        """The sessions chosen: one wish per session wanted, each a ranked list of codes."""
        if self.mode == ONE:
            return [[self.session.data]] if self.session.data else []
        if self.mode == MANY:
            # In the definition's order, whatever the order the boxes were posted in.
            chosen = set(self.sessions.data or [])
            return [[code] for code in self.labels if code in chosen]
        if self.mode == RANKED:
            return [[cell.data for cell in row if cell.data] for row in self.rows if row[0].data]
        return []

    def booking(self) -> dict[str, Any]:
        """``session_code`` (one session, as before) or ``wishes`` for ``RegistrationInput``."""
        if self.mode == ONE:
            return {"session_code": self.session.data or None}
        return {"wishes": self.wishes} if self.mode else {}

    def error_links(self) -> list[ErrorLink]:
        """The error summary's links to the session lists in error (first box of a list)."""
        links = []
        for fld in self.fields:
            if fld.errors:
                label = getattr(fld, "summary_label", None) or fld.label.text
                target = f"{fld.id}-0" if fld.type in ("RadioField", "SelectMultipleField") else fld.id
                links.append(ErrorLink(target, _("%(label)s: %(message)s", label=label,
                                                 message=" ".join(map(str, fld.errors)))))
        return links

    def hidden(self) -> list[tuple[str, str]]:
        """(name, value) of every choice made, for the hidden inputs of the next step."""
        pairs: list[tuple[str, str]] = []
        for fld in self.fields:
            data = fld.data
            for value in data if isinstance(data, list) else [data]:
                if value:
                    pairs.append((fld.name, str(value)))
        return pairs

    def summary(self) -> list[str]:
        """Each session wanted in words: ``Week 1``, or ``Week 1 (else Week 2)``."""
        lines = []
        for wish in self.wishes:
            # The sessions' own labels (the lists also show the places left).
            names = [sess.label if (sess := self.defn.session(code)) else code for code in wish]
            if len(names) == 1:
                lines.append(names[0])
            else:
                lines.append(_("%(first)s (else %(others)s)", first=names[0], others=", ".join(names[1:])))
        return lines


def session_choice(service: LoadedService, formdata: Any,
                   cells: dict[tuple[int, int], str] | None = None) -> SessionChoiceForm:
    """The sessions to choose for ``service`` (those not started yet), read from ``formdata``
    or prefilled with ``cells`` ((wish, rank) -> code; (1, 1) alone for one session)."""
    defn = service.definition
    sessions = [x for x in catalogue.sessions_of(service) if not x.started] if defn.sessions else []
    data = None
    if formdata is None and cells:
        firsts = [code for (_wish, rank), code in sorted(cells.items()) if rank == 1]
        data = {"session": firsts[0] if firsts else None, "sessions": firsts}
    return SessionChoiceForm(
        formdata=formdata, prefix="setup", data=data, defn=defn, cells=cells,
        sessions=[(x.code, f"{x.label} – {x.places_text}") for x in sessions],
    )
