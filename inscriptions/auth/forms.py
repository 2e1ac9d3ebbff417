"""Sign-up and log-in forms."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, StringField
from wtforms.fields.core import UnboundField
from wtforms.validators import DataRequired, Email, EqualTo, Length, Optional

from inscriptions.family.forms import AddressFields, french_phone, lower, strip

PASSWORD_MIN = 12
PASSWORD_MAX = 200


def new_password_fields(label: str | LazyString) -> tuple[UnboundField, UnboundField]:
    """A new password (``label``) and its confirmation, with the length rules and the match check.

    Unpack it in a form's body: ``password, password_confirm = new_password_fields(_l("Password"))``.
    The confirmation is compared with the form's field named ``password``. The fields are created in
    this order, so they keep their place among the form's other fields.
    """
    password = PasswordField(
        label,
        description=_l("At least %(n)s characters. A short sentence is easy to remember.", n=PASSWORD_MIN),
        validators=[
            DataRequired(_l("Choose a password.")),
            Length(min=PASSWORD_MIN, message=_l("The password must have at least %(n)s characters.", n=PASSWORD_MIN)),
            Length(max=PASSWORD_MAX, message=_l("The password must have at most %(n)s characters.", n=PASSWORD_MAX)),
        ],
    )
    password_confirm = PasswordField(
        _l("Password again"),
        validators=[
            DataRequired(_l("Type the password a second time.")),
            EqualTo("password", message=_l("The two passwords are different.")),
        ],
    )
    return password, password_confirm


def email_address_field(description: str) -> EmailField:
    """An e-mail address typed to create an account or to find one (checked for its form)."""
    return EmailField(
        _l("E-mail address"),
        description=description,
        filters=[strip, lower],
        validators=[
            DataRequired(_l("Enter your e-mail address.")),
            Length(max=254),
            Email(message=_l("Enter an e-mail address like name@example.fr.")),
        ],
    )


class SignupForm(AddressFields):
    email = email_address_field(_l("You will use it to log in. We send your confirmations to it."))
    password, password_confirm = new_password_fields(_l("Password"))
    first_name = StringField(
        _l("First name"),
        filters=[strip],
        validators=[DataRequired(_l("Enter your first name.")), Length(max=100)],
    )
    last_name = StringField(
        _l("Last name"),
        filters=[strip],
        validators=[DataRequired(_l("Enter your last name.")), Length(max=100)],
    )
    phone = StringField(
        _l("Phone (optional)"),
        description=_l("For example 06 12 34 56 78. Used only if we need to reach you about a registration."),
        filters=[strip],
        validators=[Optional(), french_phone],
    )


class LoginForm(FlaskForm):
    email = EmailField(
        _l("E-mail address"),
        filters=[strip, lower],
        validators=[DataRequired(_l("Enter your e-mail address."))],
    )
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(_l("Enter your password."))],
    )
    remember = BooleanField(
        _l("Stay logged in on this device"),
        description=_l("Do not tick this box on a shared computer."),
    )


class ResetRequestForm(FlaskForm):
    email = email_address_field(_l("The address you log in with."))


class ChangePasswordForm(FlaskForm):
    """A signed-in person's new password; the current one is asked again, so a session left open
    on a shared computer is not enough to take the account over."""

    current_password = PasswordField(
        _l("Current password"),
        validators=[DataRequired(_l("Enter your current password."))],
    )
    password, password_confirm = new_password_fields(_l("New password"))


class NewPasswordForm(FlaskForm):
    password, password_confirm = new_password_fields(_l("New password"))
