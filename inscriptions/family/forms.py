"""Forms of the family area (household, guardians, children), and fields shared with sign-up.

Messages say what to do ("Enter ...") rather than what is wrong, and are specific to each field,
because many parents fill these forms on a phone with little practice.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, EmailField, Field, SelectField, StringField
from wtforms.validators import (
    DataRequired,
    Email,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
    StopValidation,
    ValidationError,
)
from wtforms.widgets import TextInput

from inscriptions import clock
from inscriptions.digits import is_digits
from inscriptions.forms.validation import _Invalid as InvalidAnswer
from inscriptions.forms.validation import normalise_phone

# Values posted by the school list for "another school, or not at school yet"; stored as "".
OTHER_SCHOOL = "other"
# A household member registered for children's services is rarely older than this; an older
# birth date is almost always a typing mistake (1019 for 2019).
MAX_CHILD_AGE_YEARS = 25
QF_MAX = 99999


def years_before(day: dt.date, years: int) -> dt.date:
    """The same day ``years`` earlier (29 February becomes the 28th)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def strip(value: Any) -> Any:
    """Remove surrounding spaces (pasted text, phone keyboards adding a space after a word)."""
    return value.strip() if isinstance(value, str) else value


def lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def no_spaces(value: Any) -> Any:
    return re.sub(r"\s", "", value) if isinstance(value, str) else value


def empty_to_none(value: Any) -> Any:
    return value or None


def french_phone(form: FlaskForm, field: Field) -> None:
    """Optional French phone number, normalised to ``06 12 34 56 78`` by the engine's rule."""
    if not field.data:
        field.data = None
        return
    try:
        field.data = normalise_phone(field.data)
    except InvalidAnswer as exc:
        raise ValidationError(str(exc.message)) from None


class WholeNumberField(Field):
    """An optional whole number typed in a text input (``inputmode=numeric``).

    A text input rather than ``type=number``: number inputs change value on scroll and are
    announced poorly by some screen readers. Spaces are allowed ("1 250").
    """

    widget = TextInput()

    def __init__(self, label: Any = None, validators: Any = None, invalid_message: Any = None, **kwargs: Any):
        super().__init__(label, validators, **kwargs)
        self.invalid_message = invalid_message or _l("Write a whole number using digits only, for example 850.")

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        return "" if self.data is None else str(self.data)

    def pre_validate(self, form: Any) -> None:
        # Not a number: say only that, without a range message about an empty value.
        if self.process_errors:
            raise StopValidation()

    def process_formdata(self, valuelist: list[Any]) -> None:
        self.data = None
        if not valuelist:
            return
        raw = re.sub(r"\s", "", str(valuelist[0]))
        if not raw:
            return
        if not is_digits(raw):
            raise ValueError(str(self.invalid_message))
        self.data = int(raw)


class BirthDateField(DateField):
    """A date input that also accepts ``14/03/2019`` from browsers without a date picker."""

    def __init__(self, label: Any = None, validators: Any = None, **kwargs: Any):
        kwargs.setdefault("format", ["%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y"])
        kwargs.setdefault("invalid_value_message", _l("Enter a real date, for example 14/03/2019."))
        super().__init__(label, validators, **kwargs)

    def process_formdata(self, valuelist: list[Any]) -> None:
        # An empty input is "missing" (DataRequired says so), not "badly written".
        if not valuelist or not " ".join(valuelist).strip():
            self.data = None
            return
        super().process_formdata([" ".join(valuelist).strip()])


def postcode_field() -> StringField:
    return StringField(
        _l("Postcode"),
        filters=[no_spaces],
        validators=[
            DataRequired(_l("Enter the postcode.")),
            Regexp(r"^\d{5}$", message=_l("Enter a postcode of 5 digits, for example 75011.")),
        ],
    )


class AddressFields(FlaskForm):
    """The household address; sign-up and the household form both inherit it."""

    address_line1 = StringField(
        _l("Number and street"),
        filters=[strip],
        validators=[DataRequired(_l("Enter the number and street.")), Length(max=200)],
    )
    postcode = postcode_field()
    city = StringField(
        _l("City"),
        filters=[strip],
        validators=[DataRequired(_l("Enter the city.")), Length(max=100)],
    )


class HouseholdForm(AddressFields):
    address_line2 = StringField(
        _l("Additional address details (optional)"),
        description=_l("Building, staircase, floor, apartment…"),
        filters=[strip],
        validators=[Optional(), Length(max=200)],
    )
    quotient_familial = WholeNumberField(
        _l("Quotient familial (optional)"),
        description=_l(
            "It is shown on your CAF certificate (or MSA). Leave it empty if you do not know it: "
            "the highest price will apply until you give it."
        ),
        validators=[
            Optional(),
            NumberRange(min=0, max=QF_MAX, message=_l("Enter the quotient familial shown on your certificate.")),
        ],
    )


class GuardianForm(FlaskForm):
    first_name = StringField(
        _l("First name"),
        filters=[strip],
        validators=[DataRequired(_l("Enter the first name.")), Length(max=100)],
    )
    last_name = StringField(
        _l("Last name"),
        filters=[strip],
        validators=[DataRequired(_l("Enter the last name.")), Length(max=100)],
    )
    email = EmailField(
        _l("E-mail address (optional)"),
        filters=[strip, lower, empty_to_none],
        validators=[
            Optional(),
            Length(max=254),
            Email(message=_l("Enter an e-mail address like name@example.fr.")),
        ],
    )
    phone = StringField(
        _l("Phone (optional)"),
        description=_l("For example 06 12 34 56 78."),
        filters=[strip],
        validators=[Optional(), french_phone],
    )


class ChildForm(FlaskForm):
    first_name = StringField(
        _l("First name"),
        filters=[strip],
        validators=[DataRequired(_l("Enter the child's first name.")), Length(max=100)],
    )
    last_name = StringField(
        _l("Last name"),
        filters=[strip],
        validators=[DataRequired(_l("Enter the child's last name.")), Length(max=100)],
    )
    birth_date = BirthDateField(
        _l("Date of birth"),
        description=_l("For example 14/03/2019."),
        # InputRequired, not DataRequired: the latter would hide "Enter a real date" behind "Enter...".
        validators=[InputRequired(_l("Enter the child's date of birth."))],
    )
    school = SelectField(
        _l("School"),
        validators=[DataRequired(_l("Choose the school, or “Other school or not at school”."))],
        validate_choice=True,
    )
    class_name = StringField(
        _l("Class (optional)"),
        description=_l("For example CE1 or petite section."),
        filters=[strip],
        validators=[Optional(), Length(max=40, message=_l("Write the class in 40 characters at most."))],
    )

    def __init__(self, *args: Any, schools: list[str], current_school: str | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        choices = [("", _l("Choose a school")), *((name, name) for name in schools)]
        # A school typed by an agent and not in the town's list is kept, so editing loses nothing.
        if current_school and current_school not in schools:
            choices.append((current_school, current_school))
        choices.append((OTHER_SCHOOL, _l("Other school or not at school")))
        self.school.choices = choices
        if not self.is_submitted() and current_school is not None and not self.school.data:
            self.school.data = current_school or OTHER_SCHOOL

    def validate_birth_date(self, field: Field) -> None:
        if field.data is None:
            return
        today = clock.now().astimezone(clock.local_zone()).date()
        if field.data > today:
            raise ValidationError(_l("The date of birth cannot be in the future."))
        # Born on or before this day: older than the maximum age.
        if field.data <= years_before(today, MAX_CHILD_AGE_YEARS + 1):
            raise ValidationError(
                _l("Check the year: this child would be more than %(n)s years old.", n=MAX_CHILD_AGE_YEARS)
            )

    @property
    def school_value(self) -> str:
        """The school as stored: "" for another school or none."""
        return "" if self.school.data == OTHER_SCHOOL else (self.school.data or "")
