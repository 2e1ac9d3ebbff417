"""Forms of the counter: the access reason, a new household, and the set-up of a form entry.

The household form reuses the family area's forms (same fields, same messages, same checks), one
instance per person with its own prefix; the service's own questions are generated from the
definition by :mod:`inscriptions.forms.web`, never written here.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, RadioField, SelectMultipleField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from inscriptions import clock
from inscriptions.counter.access import REASONS
from inscriptions.family.forms import BirthDateField, ChildForm, GuardianForm, HouseholdForm, strip
from inscriptions.forms.validation import _as_date
from inscriptions.forms.validation import _Invalid as InvalidAnswer

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
    """Who, which session, which channel, when the paper arrived and why: before the questions.

    Choices depend on the service and household and are set by the view. No CSRF field of its
    own: the entry page posts the app-wide token (CSRFProtect checks every POST).
    """

    class Meta:
        csrf = False

    participant = SelectMultipleField(
        _l("Who is registered?"), choices=[], validate_choice=False,
        widget=ListWidget(prefix_label=False), option_widget=CheckboxInput(),
    )
    session = RadioField(_l("Which session?"), choices=[], validate_choice=False)
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

    def __init__(self, *args: Any, participants: list[tuple[str, str]], sessions: list[tuple[str, str]],
                 **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.participant.choices = choices(participants)
        self.session.choices = choices(sessions)
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

    def validate_session(self, field: Any) -> None:
        allowed = {choice.value for choice in self.session.choices}
        if not allowed:
            field.data = None
            return
        if field.data not in allowed:
            raise ValidationError(_l("Choose a session."))

    def validate_received_on(self, field: Any) -> None:
        if not field.data:
            if self.channel.data in RECEIVED_REQUIRED:
                raise ValidationError(_l("Enter the date the paper was received."))
            return
        day = parse_day(field.data)
        if day > today():
            raise ValidationError(_l("The date received cannot be in the future."))
        self.received_day = day
