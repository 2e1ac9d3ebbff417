"""WTForms form classes generated from a service definition, for the parents' web form.

WTForms only names, fills and renders the inputs here: every check goes through
:func:`inscriptions.forms.validation.validate_answers`, whose errors are put back on the fields
with :func:`apply_errors`. No field type coerces or validates anything on its own, so what the
family typed is always shown back to them unchanged.

The raw answers this module produces (:func:`form_to_raw`) are what the draft keeps and what
``validate_answers`` reads: strings, lists of strings for checkbox lists, ``"yes"``/``"no"``
for yes/no questions, ``"y"`` for a ticked consent, an upload token for a file, and a list of
row dicts for a group (empty rows removed, so error indices match the rows shown).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from flask_babel import format_date
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import FileStorage
from wtforms import Form
from wtforms.fields import (
    BooleanField,
    FieldList,
    FileField,
    FormField,
    HiddenField,
    RadioField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.utils import unset_value
from wtforms.widgets import (
    CheckboxInput,
    DateInput,
    EmailInput,
    ListWidget,
    NumberInput,
    TelInput,
    TextInput,
)

try:  # WTForms 3.3 deprecates (value, label) tuples for choices
    from wtforms.fields.choices import SelectChoice
except ImportError:  # pragma: no cover - older WTForms
    SelectChoice = None

from inscriptions.definitions import schema as s
from inscriptions.digits import is_digits
from inscriptions.forms.validation import is_required, is_visible
from inscriptions.uploads import UploadError, accepted_label, has_file

CHANNEL = "web"
YES, NO = "yes", "no"
TICKED = "y"
KEPT = "-kept"
REMOVE = "-remove"
# What the browser may send back unvalidated is kept in the draft; cap it so a draft stays small.
MAX_RAW_TEXT = 10_000

WEEKDAY_LABELS = {
    "mon": _l("Monday"),
    "tue": _l("Tuesday"),
    "wed": _l("Wednesday"),
    "thu": _l("Thursday"),
    "fri": _l("Friday"),
    "sat": _l("Saturday"),
    "sun": _l("Sunday"),
}

# Keyboard hints for phones. No ``autocomplete`` token: a form may ask for someone else's phone
# (a grandparent's) and the browser would offer the parent's own.
INPUT_HINTS: dict[str, dict[str, str]] = {
    "email": {"spellcheck": "false"},
    "phone_fr": {"inputmode": "tel"},
    "postcode_fr": {"inputmode": "numeric"},
    "integer": {"inputmode": "numeric", "step": "1"},
}

Store = Callable[[s.FileField, FileStorage], str]


class RowList(FieldList):
    """A group's rows, always ``max_entries`` of them, each read from its own numbered inputs.

    WTForms' FieldList renumbers posted rows (``pickup-2`` becomes ``pickup-0``) and then reads
    the padding rows from the same request again, which would duplicate a row. Here row ``i``
    is always ``<name>-i``; :func:`form_to_raw` drops the blank ones.
    """

    def process(self, formdata: Any, data: Any = unset_value, extra_filters: Any = None) -> None:
        self.last_index = -1
        self.entries = []
        rows = list(data) if isinstance(data, list) else []
        self.object_data = rows
        for index in range(self.max_entries or len(rows)):
            row = rows[index] if formdata is None and index < len(rows) else unset_value
            self._add_entry(formdata, row, index=index)


class PageForm(Form):
    """Base of the generated forms; ``specs`` maps field names to their definition fields."""

    specs: ClassVar[dict[str, Any]] = {}


def choices_of(fld: Any) -> list[tuple[str, str]]:
    """``(value, label)`` pairs of a choice field, as shown to families."""
    if isinstance(fld, s.SingleChoiceField | s.MultipleChoiceField):
        return [(c.value, c.label) for c in fld.choices]
    if isinstance(fld, s.WeekdaysField):
        return [(d, str(WEEKDAY_LABELS[d])) for d in fld.days]
    if isinstance(fld, s.YesNoField):
        return [(YES, str(_l("Yes"))), (NO, str(_l("No")))]
    return []


def _wt_choices(fld: Any) -> list[Any]:
    pairs = choices_of(fld)
    return [SelectChoice(v, label) for v, label in pairs] if SelectChoice is not None else pairs


def _unbound(fld: Any) -> Any:
    """The WTForms field for one definition field (no validators: validate_answers decides)."""
    label = fld.label
    if isinstance(fld, s.GroupField):
        sub = form_class(fld.fields, name=f"Group_{fld.name}")
        return RowList(FormField(sub), label=label, min_entries=fld.max_items, max_entries=fld.max_items)
    if isinstance(fld, s.LongTextField):
        return TextAreaField(label)
    if isinstance(fld, s.EmailField):
        return StringField(label, widget=EmailInput())
    if isinstance(fld, s.PhoneField):
        return StringField(label, widget=TelInput())
    if isinstance(fld, s.DateField):
        return StringField(label, widget=DateInput())
    if isinstance(fld, s.IntegerField):
        return StringField(label, widget=NumberInput())
    if isinstance(fld, s.SingleChoiceField | s.YesNoField):
        return RadioField(label, choices=_wt_choices(fld), validate_choice=False)
    if isinstance(fld, s.MultipleChoiceField | s.WeekdaysField):
        return SelectMultipleField(
            label, choices=_wt_choices(fld), validate_choice=False,
            widget=ListWidget(prefix_label=False), option_widget=CheckboxInput(),
        )
    if isinstance(fld, s.ConsentField):
        return BooleanField(label)
    if isinstance(fld, s.FileField):
        return FileField(label)
    return StringField(label, widget=TextInput())  # text, postcode


def form_class(fields: Sequence[Any], name: str = "PageForm") -> type[PageForm]:
    """A form class with one WTForms field per definition field, in the definition's order.

    A file field comes with a hidden ``<name>-kept`` input (the token of the file already sent)
    and a ``<name>-remove`` box, so a file survives going back and forth without JavaScript.
    Definition names never contain ``-``, so these names cannot clash with a real field.
    """
    attrs: dict[str, Any] = {"specs": {f.name: f for f in fields}}
    for fld in fields:
        attrs[fld.name] = _unbound(fld)
        if isinstance(fld, s.FileField):
            attrs[fld.name + KEPT] = HiddenField()
            attrs[fld.name + REMOVE] = BooleanField(_l("Remove this file"))
    return type(name, (PageForm,), attrs)


def page_form_class(defn: s.ServiceDefinition, page_index: int) -> type[PageForm]:
    """The form class of one page of a definition."""
    return form_class(defn.form.pages[page_index].fields, name=f"Page{page_index}")


# -- raw answers <-> form data -------------------------------------------------------------------

def _data_value(fld: Any, value: Any) -> Any:
    if isinstance(fld, s.YesNoField):
        if value is True:
            return YES
        if value is False:
            return NO
        return value if value in (YES, NO) else None
    if isinstance(fld, s.ConsentField):
        return value is True or value == TICKED
    if isinstance(fld, s.MultipleChoiceField | s.WeekdaysField):
        return [str(v) for v in value] if isinstance(value, list) else []
    if isinstance(fld, s.SingleChoiceField):
        return str(value) if value not in (None, "") else None
    if isinstance(fld, s.GroupField):
        rows = value if isinstance(value, list) else []
        return [data_from_raw(fld.fields, row if isinstance(row, Mapping) else {}) for row in rows]
    if value is None:
        return ""
    return str(value)


def data_from_raw(fields: Iterable[Any], raw: Mapping[str, Any]) -> dict[str, Any]:
    """Turn saved raw answers into the ``data=`` of a generated form (to show them again)."""
    data: dict[str, Any] = {}
    for fld in fields:
        value = raw.get(fld.name)
        if isinstance(fld, s.FileField):
            data[fld.name + KEPT] = str(value or "")
            continue
        if value is None and not isinstance(fld, s.ConsentField | s.GroupField):
            continue
        data[fld.name] = _data_value(fld, value)
    return data


def build_form(
    fields_or_class: Sequence[Any] | type[PageForm],
    *,
    prefix: str = "",
    formdata: Any = None,
    raw: Mapping[str, Any] | None = None,
) -> PageForm:
    """An instance filled from the request (``formdata``) or from saved raw answers (``raw``)."""
    cls = fields_or_class if isinstance(fields_or_class, type) else form_class(fields_or_class)
    if formdata is not None:
        return cls(formdata=formdata, prefix=prefix)
    return cls(prefix=prefix, data=data_from_raw(cls.specs.values(), raw or {}))


def _empty(value: Any) -> bool:
    return value in (None, "", []) or (isinstance(value, str) and not value.strip())


def _text(value: Any) -> str:
    return str(value or "")[:MAX_RAW_TEXT]


def form_to_raw(
    form: PageForm,
    *,
    store: Store | None = None,
    only: Iterable[str] | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """The raw answers typed in ``form``, and upload errors keyed like validation errors.

    ``store`` saves a newly sent file and returns its token (it may raise UploadError); without
    it new files are ignored. ``only`` limits the answers to the fields actually shown.
    """
    wanted = set(only) if only is not None else None
    raw: dict[str, Any] = {}
    upload_errors: dict[str, str] = {}
    for name, fld in form.specs.items():
        if wanted is not None and name not in wanted:
            continue
        raw[name] = _field_raw(form, fld, store, upload_errors, name)
    return raw, upload_errors


def _field_raw(form: PageForm, fld: Any, store: Store | None, errors: dict[str, str], key: str) -> Any:
    field = form[fld.name]
    if isinstance(fld, s.GroupField):
        rows: list[dict[str, Any]] = []
        for entry in field.entries:
            sub_form: PageForm = entry.form
            row_errors: dict[str, str] = {}
            row = {
                sub.name: _field_raw(sub_form, sub, store, row_errors, sub.name)
                for sub in fld.fields
            }
            if all(_empty(v) for v in row.values()) and not row_errors:
                continue  # a blank row is no answer; later rows move up so errors match
            for sub_key, message in row_errors.items():
                errors[f"{key}.{len(rows)}.{sub_key}"] = message
            rows.append(row)
        return rows
    if isinstance(fld, s.FileField):
        kept = _text(form[fld.name + KEPT].data)
        storage = field.data
        if store is not None and has_file(storage):
            try:
                return store(fld, storage)
            except UploadError as exc:
                errors[key] = str(exc)
                return kept
        return "" if form[fld.name + REMOVE].data else kept
    if isinstance(fld, s.ConsentField):
        return TICKED if field.data else ""
    if isinstance(fld, s.MultipleChoiceField | s.WeekdaysField):
        return [_text(v) for v in (field.data or [])][:50]
    return _text(field.data)


# -- errors --------------------------------------------------------------------------------------

def apply_errors(form: PageForm, errors: Mapping[str, Any]) -> dict[str, str]:
    """Put ``validate_answers`` errors (``"field"`` or ``"group.0.sub"``) on the form's fields.

    Returns the errors that match no field on this form (e.g. a service rule about a field of
    another page) so the page can still show them.
    """
    left: dict[str, str] = {}
    for key, message in errors.items():
        text = str(message)
        name, _sep, rest = str(key).partition(".")
        field = form._fields.get(name) if name in form.specs else None
        if field is None:
            left[key] = text
            continue
        if not rest:
            field.errors = [text]
            continue
        index, _sep, sub = rest.partition(".")
        if not isinstance(field, FieldList) or not is_digits(index) or int(index) >= len(field.entries):
            left[key] = text
            continue
        sub_field = field.entries[int(index)].form._fields.get(sub)
        if sub_field is None:
            left[key] = text
        else:
            sub_field.errors = [text]
    return left


def anchor_id(field: Any) -> str:
    """The id a link in the error summary points to: the first input of the field."""
    if isinstance(field, FieldList):
        entry = field.entries[0] if field.entries else None
        if entry is not None:
            first = next(iter(entry.form._fields.values()))
            return anchor_id(first)
        return field.id
    if isinstance(field, RadioField | SelectMultipleField):
        return f"{field.id}-0"
    return field.id


@dataclass(frozen=True)
class ErrorLink:
    """One line of the error summary: where to go and what to fix."""

    target: str
    text: str


def error_links(form: PageForm, context: str = "") -> list[ErrorLink]:
    """The form's errors in page order, each with the id of the input to fix."""
    links: list[ErrorLink] = []
    lead = f"{context} – " if context else ""
    for name, fld in form.specs.items():
        field = form[name]
        for message in field.errors or ():
            if isinstance(message, str):
                links.append(ErrorLink(anchor_id(field), lead + _("%(label)s: %(message)s", label=fld.label,
                                                                      message=message)))
        if isinstance(fld, s.GroupField):
            for i, entry in enumerate(field.entries):
                row = _("Person %(n)s", n=i + 1)
                for sub in fld.fields:
                    for message in entry.form[sub.name].errors or ():
                        where = f"{fld.label}, {row} – {sub.label}"
                        links.append(ErrorLink(
                            anchor_id(entry.form[sub.name]),
                            lead + _("%(label)s: %(message)s", label=where, message=message),
                        ))
    return links


# -- what the template needs about each field ----------------------------------------------------

@dataclass(frozen=True)
class ShowIf:
    """A condition in words, and what the optional script needs to apply it on the page."""

    text: str
    control: str | None  # the controlling input's name when it is on the same page
    values: tuple[str, ...]


def _answer_words(target: Any, value: Any) -> str:
    if isinstance(target, s.YesNoField | s.ConsentField) and isinstance(value, bool):
        return str(_l("Yes")) if value else str(_l("No"))
    labels = dict(choices_of(target))
    return labels.get(str(value), str(value))


def condition_text(cond: s.Condition, target: Any) -> str:
    """``Only if you answered “Yes” to “…”`` for a field's ``show_if``."""
    question = getattr(target, "label", cond.field)
    if cond.contains is not None:
        return _("Only if you ticked “%(answer)s” in “%(question)s”",
                 answer=_answer_words(target, cond.contains), question=question)
    if cond.in_ is not None:
        answers = ", ".join(_("“%(answer)s”", answer=_answer_words(target, v)) for v in cond.in_)
        return _("Only if you answered %(answers)s to “%(question)s”", answers=answers, question=question)
    return _("Only if you answered “%(answer)s” to “%(question)s”",
             answer=_answer_words(target, cond.equals), question=question)


def _control_values(cond: s.Condition, target: Any) -> tuple[str, ...]:
    if cond.contains is not None:
        return (cond.contains,)
    if cond.in_ is not None:
        return tuple(cond.in_)
    value = cond.equals
    if isinstance(target, s.YesNoField) and isinstance(value, bool):
        return (YES if value else NO,)
    if isinstance(target, s.ConsentField) and isinstance(value, bool):
        return (TICKED,) if value else ("",)
    return (str(value),)


def decorate(
    form: PageForm,
    *,
    lookup: Mapping[str, Any],
    known: Mapping[str, Any] | None = None,
    channel: str = CHANNEL,
) -> list[str]:
    """Attach what templates need to each bound field; returns the names of the fields to show.

    ``lookup`` gives every field a condition may point to (the whole definition); ``known`` the
    clean answers of earlier pages. A field whose condition looks at an earlier page is shown only
    when that answer makes it needed: the server already knows, so it does not ask for nothing.
    """
    shown: list[str] = []
    known = known or {}
    for name, fld in form.specs.items():
        field = form[name]
        field.spec = fld
        field.kind = fld.type
        field.required = is_required(fld, channel)
        field.show_if = None
        cond = fld.show_if
        if cond is not None:
            on_page = cond.field in form.specs
            if not on_page and not is_visible(fld, known):
                continue
            target = form.specs.get(cond.field) or lookup.get(cond.field)
            field.show_if = ShowIf(
                condition_text(cond, target),
                form[cond.field].name if on_page else None,
                _control_values(cond, target),
            )
        if isinstance(fld, s.FileField):
            field.kept = form[name + KEPT]
            field.remove = form[name + REMOVE]
            field.accept_label = accepted_label(list(fld.accept))
        if isinstance(fld, s.GroupField):
            for entry in field.entries:
                inner = {sub.name: sub for sub in fld.fields}
                decorate(entry.form, lookup=inner, known={}, channel=channel)
        shown.append(name)
    return shown


def accept_attribute(fld: s.FileField) -> str:
    """The ``accept`` attribute of a file input (the phone then offers the camera or files)."""
    mimes = {"pdf": ".pdf,application/pdf", "jpeg": ".jpg,.jpeg,image/jpeg", "png": ".png,image/png"}
    return ",".join(mimes[k] for k in fld.accept)


def input_attributes(field: Any) -> dict[str, str]:
    """HTML attributes for a text-like input: limits and phone keyboard hints."""
    fld = field.spec
    attrs = dict(INPUT_HINTS.get(fld.type, {}))
    if isinstance(fld, s.TextField | s.LongTextField):
        attrs["maxlength"] = str(fld.max_length)
    if isinstance(fld, s.IntegerField | s.DateField):
        if fld.min is not None:
            attrs["min"] = str(fld.min.isoformat() if isinstance(fld.min, dt.date) else fld.min)
        if fld.max is not None:
            attrs["max"] = str(fld.max.isoformat() if isinstance(fld.max, dt.date) else fld.max)
    if isinstance(fld, s.FileField):
        attrs["accept"] = accept_attribute(fld)
    return attrs


# -- answers in words (review page, registration detail) ----------------------------------------

@dataclass(frozen=True)
class Answer:
    """One answer as shown to people: the question, the answer in words, and nested rows."""

    name: str
    label: str
    text: str = ""
    file_token: str = ""
    rows: tuple[tuple[Answer, ...], ...] = ()
    sensitive: bool = False


def answer_text(fld: Any, value: Any, file_names: Mapping[str, str] | None = None) -> str:
    """An answer in words: labels, not codes."""
    if value is None or value == "" or value == []:
        return str(_l("Not answered"))
    if isinstance(fld, s.YesNoField):
        return str(_l("Yes")) if value is True else str(_l("No"))
    if isinstance(fld, s.ConsentField):
        return str(_l("Yes, I agree")) if value else str(_l("No"))
    if isinstance(fld, s.SingleChoiceField):
        return dict(choices_of(fld)).get(str(value), str(value))
    if isinstance(fld, s.MultipleChoiceField | s.WeekdaysField):
        labels = dict(choices_of(fld))
        return ", ".join(labels.get(str(v), str(v)) for v in value)
    if isinstance(fld, s.DateField):
        try:
            return format_date(dt.date.fromisoformat(str(value)), "long")
        except ValueError:
            return str(value)
    if isinstance(fld, s.FileField):
        return (file_names or {}).get(str(value), str(_l("File sent")))
    return str(value)


def answers_in_words(
    fields: Iterable[Any],
    values: Mapping[str, Any],
    *,
    file_names: Mapping[str, str] | None = None,
    include_empty: bool = True,
) -> list[Answer]:
    """The visible fields with their answers in words, in form order (hidden fields skipped)."""
    shown: list[Answer] = []
    for fld in fields:
        if not is_visible(fld, values):
            continue
        value = values.get(fld.name)
        if value in (None, "", []) and not include_empty:
            continue
        if isinstance(fld, s.GroupField):
            rows = tuple(
                tuple(answers_in_words(fld.fields, row, file_names=file_names, include_empty=False))
                for row in (value or [])
            )
            text = "" if rows else str(_l("Not answered"))
            shown.append(Answer(fld.name, fld.label, text, rows=rows, sensitive=fld.sensitive))
            continue
        token = str(value) if isinstance(fld, s.FileField) and value else ""
        shown.append(Answer(fld.name, fld.label, answer_text(fld, value, file_names),
                            file_token=token, sensitive=fld.sensitive))
    return shown


def file_tokens(fields: Iterable[Any], values: Mapping[str, Any]) -> list[str]:
    """Every upload token among answers (groups included), to look their names up at once."""
    tokens: list[str] = []
    for fld in fields:
        value = values.get(fld.name)
        if isinstance(fld, s.FileField) and value:
            tokens.append(str(value))
        elif isinstance(fld, s.GroupField) and isinstance(value, list):
            for row in value:
                if isinstance(row, Mapping):
                    tokens += file_tokens(fld.fields, row)
    return tokens

