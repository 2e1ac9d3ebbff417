"""The one validation function: every channel (web, counter, paper, API) calls it.

It takes raw answers (strings from an HTML form, typed values from the API) for one participant,
coerces them by field type, applies conditions ("show if"), requirements that depend on the
channel, ranges, and the service's own rules. Hidden fields are dropped, never stored.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from flask import current_app, has_app_context
from flask_babel import lazy_gettext as _l

from inscriptions.definitions import schema as s
from inscriptions.digits import is_digits
from inscriptions.plugin_api import ONLINE_CHANNELS

POSTCODE = re.compile(r"^(?:0[1-9]|[1-8]\d|9[0-8])\d{3}$")
# A date outside these years is a typing slip (0018 for 2018), not a real answer.
FIRST_YEAR, LAST_YEAR = 1900, 2100
TRUE_WORDS = {"1", "true", "yes", "y", "oui", "o", "on"}
FALSE_WORDS = {"0", "false", "no", "n", "non", "off"}

# A file answer is checked against the uploads the household owns: token -> (content kind, size).
FileLookup = Callable[[str], tuple[str, int] | None]


@dataclass
class ValidationResult:
    """Clean, JSON-ready values of the visible fields, and errors keyed by field path."""

    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


class _Invalid(Exception):
    def __init__(self, message: Any):
        self.message = message


def is_required(fld: s.BaseField, channel: str) -> bool:
    """``required: online`` fields may be left empty when an agent keys a paper form."""
    return fld.required == "always" or (fld.required == "online" and channel in ONLINE_CHANNELS)


def is_visible(fld: s.BaseField, values: Mapping[str, Any]) -> bool:
    cond = fld.show_if
    if cond is None:
        return True
    current = values.get(cond.field)
    if cond.equals is not None:
        return current == cond.equals
    if cond.in_ is not None:
        return current in cond.in_
    return isinstance(current, list) and cond.contains in current


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or (isinstance(value, str) and not value.strip())


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if _empty(value):
        return None
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise _Invalid(_l("Choose yes or no."))


def _as_list(value: Any) -> list[str]:
    if _empty(value):
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, Iterable):
        return [str(v) for v in value if not _empty(v)]
    raise _Invalid(_l("Invalid answer."))


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%d/%m/%y", "%d%m%Y"):
        try:
            day = dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
        if FIRST_YEAR <= day.year <= LAST_YEAR:
            return day
        break
    raise _Invalid(_l("Invalid date: write it like 31/12/2018."))


def _town_postcodes() -> list[str]:
    # The town's own postcodes are always accepted (a demo town may use one outside the real range).
    if not has_app_context():
        return []
    town = current_app.extensions.get("inscriptions.town")
    return list(town.residency.postcodes) if town is not None else []


def _pick(choices: list[str], chosen: list[str], lo: int | None, hi: int | None) -> list[str]:
    unknown = [c for c in chosen if c not in choices]
    if unknown:
        raise _Invalid(_l("Invalid choice."))
    ordered = [c for c in choices if c in chosen]
    if lo is not None and ordered and len(ordered) < lo:
        raise _Invalid(_l("Choose at least %(n)s answers.", n=lo))
    if hi is not None and len(ordered) > hi:
        raise _Invalid(_l("Choose at most %(n)s answers.", n=hi))
    return ordered


def _clean_simple(fld: Any, raw: Any, files: FileLookup | None) -> Any:
    """Coerce one raw value; returns None for an empty answer."""
    if isinstance(fld, s.YesNoField):
        return _as_bool(raw)
    if isinstance(fld, s.ConsentField):
        # An unticked box is no answer; a consent is only ever given, never "no".
        return True if _as_bool(raw) else None
    if isinstance(fld, s.MultipleChoiceField):
        chosen = _pick([c.value for c in fld.choices], _as_list(raw), fld.min_selected, fld.max_selected)
        return chosen or None
    if isinstance(fld, s.WeekdaysField):
        chosen = _pick(list(fld.days), _as_list(raw), fld.min_selected, fld.max_selected)
        return chosen or None
    if _empty(raw):
        return None
    if isinstance(raw, list | dict):
        raise _Invalid(_l("Invalid answer."))
    if isinstance(fld, s.TextField | s.LongTextField):
        text = str(raw).strip()
        if len(text) > fld.max_length:
            raise _Invalid(_l("At most %(n)s characters.", n=fld.max_length))
        return text
    if isinstance(fld, s.EmailField):
        try:
            return validate_email(str(raw).strip(), check_deliverability=False).normalized
        except EmailNotValidError:
            raise _Invalid(_l("Invalid e-mail address: it looks like name@example.fr.")) from None
    if isinstance(fld, s.PhoneField):
        return normalise_phone(str(raw))
    if isinstance(fld, s.PostcodeField):
        code = re.sub(r"\s", "", str(raw))
        if not POSTCODE.match(code) and code not in _town_postcodes():
            raise _Invalid(_l("Invalid postcode: 5 digits, for example 75011."))
        return code
    if isinstance(fld, s.DateField):
        day = _as_date(raw)
        if (fld.min and day < fld.min) or (fld.max and day > fld.max):
            raise _Invalid(_l("This date is outside the allowed dates."))
        return day.isoformat()
    if isinstance(fld, s.IntegerField):
        if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
            raise _Invalid(_l("Write a whole number."))
        try:
            number = int(str(raw).strip()) if not isinstance(raw, int | float) else int(raw)
        except ValueError:
            raise _Invalid(_l("Write a whole number.")) from None
        if fld.min is not None and number < fld.min:
            raise _Invalid(_l("The number must be at least %(n)s.", n=fld.min))
        if fld.max is not None and number > fld.max:
            raise _Invalid(_l("The number must be at most %(n)s.", n=fld.max))
        return number
    if isinstance(fld, s.SingleChoiceField):
        value = str(raw).strip()
        if value not in {c.value for c in fld.choices}:
            raise _Invalid(_l("Invalid choice."))
        return value
    if isinstance(fld, s.FileField):
        token = str(raw).strip()
        found = files(token) if files else None
        if found is None:
            raise _Invalid(_l("File not found: please upload it again."))
        kind, size = found
        if kind not in fld.accept:
            raise _Invalid(_l("This type of file is not accepted."))
        if size > fld.max_size_mb * 1024 * 1024:
            raise _Invalid(_l("File too large (%(n)s MB at most).", n=fld.max_size_mb))
        return token
    raise _Invalid(_l("Invalid answer."))  # pragma: no cover - schema forbids other types


def normalise_phone(raw: str) -> str:
    """A French phone number in national format (``06 12 34 56 78``), or an error."""
    try:
        number = phonenumbers.parse(raw, "FR")
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise _Invalid(_l("Invalid phone number: 10 digits, for example 06 12 34 56 78."))
    if number.country_code == 33:
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def _validate_fields(
    fields: Iterable[Any],
    raw: Mapping[str, Any],
    channel: str,
    known: dict[str, Any],
    result: ValidationResult,
    prefix: str,
    files: FileLookup | None,
) -> dict[str, Any]:
    """Validate fields in order; ``known`` holds earlier clean values for conditions."""
    values: dict[str, Any] = {}
    for fld in fields:
        key = f"{prefix}{fld.name}"
        if not is_visible(fld, {**known, **values}):
            continue
        if isinstance(fld, s.GroupField):
            rows = _validate_group(fld, raw.get(fld.name), channel, result, key, files)
            if rows:
                values[fld.name] = rows
            elif is_required(fld, channel) or fld.min_items:
                result.errors[key] = _l("Fill in at least %(n)s line(s).", n=max(fld.min_items, 1))
            continue
        try:
            value = _clean_simple(fld, raw.get(fld.name), files)
        except _Invalid as err:
            result.errors[key] = err.message
            continue
        if value is None:
            if is_required(fld, channel):
                result.errors[key] = (
                    _l("Tick this box to continue.")
                    if isinstance(fld, s.ConsentField)
                    else _l("This answer is required.")
                )
            continue
        values[fld.name] = value
    return values


def _validate_group(
    fld: s.GroupField,
    raw: Any,
    channel: str,
    result: ValidationResult,
    key: str,
    files: FileLookup | None,
) -> list[dict[str, Any]]:
    if _empty(raw):
        return []
    if isinstance(raw, Mapping):
        # HTML forms give {"0": {...}, "1": {...}}; keep the row order.
        raw = [raw[k] for k in sorted(raw, key=lambda k: int(k) if is_digits(str(k)) else 0)]
    if not isinstance(raw, list) or not all(isinstance(r, Mapping) for r in raw):
        result.errors[key] = _l("Invalid answer.")
        return []
    rows = [r for r in raw if any(not _empty(v) for v in r.values())]
    if len(rows) > fld.max_items:
        result.errors[key] = _l("At most %(n)s lines.", n=fld.max_items)
        return []
    if len(rows) < fld.min_items and rows:
        result.errors[key] = _l("Fill in at least %(n)s line(s).", n=fld.min_items)
    clean = []
    for i, row in enumerate(rows):
        clean.append(_validate_fields(fld.fields, row, channel, {}, result, f"{key}.{i}.", files))
    return clean


def fields_of_pages(defn: s.ServiceDefinition, pages: Iterable[int] | None) -> list[Any]:
    wanted = range(len(defn.form.pages)) if pages is None else pages
    return [f for i in wanted for f in defn.form.pages[i].fields]


def validate_answers(
    defn: s.ServiceDefinition,
    raw: Mapping[str, Any],
    *,
    channel: str,
    pages: Iterable[int] | None = None,
    known: Mapping[str, Any] | None = None,
    files: FileLookup | None = None,
    hooks: Any = None,
) -> ValidationResult:
    """Validate one participant's answers.

    ``pages`` limits the check to some pages (the web form checks page by page); ``known`` gives
    clean answers of the other pages so conditions can look back at them. With ``hooks`` (the
    service's plugin manager) the service's own rules run once the answers are clean.
    """
    result = ValidationResult()
    result.values = _validate_fields(
        fields_of_pages(defn, pages), raw, channel, dict(known or {}), result, "", files
    )
    if hooks is not None and result.ok:
        # Read-only: a service's rule must not change the answers that will be stored.
        merged = MappingProxyType({**(known or {}), **result.values})
        for extra in hooks.hook.validate_answers(service=defn, answers=merged, channel=channel):
            for name, message in (extra or {}).items():
                result.errors.setdefault(name, message)
    return result
