"""The paper form of a form version: page geometry in millimetres, computed once, then frozen.

:func:`compute_layout` turns a service definition into a :class:`FormLayout`: A4 pages, each with
four corner marks, a QR code, numbered questions and the boxes to fill in (checkboxes, comb boxes
for dates, postcodes, phones and numbers, free-text boxes, a signature box). :func:`layout_for`
returns the layout stored for a form version, computing and storing it the first time: a
printout is always read with the geometry it was printed with, even after the code that computes
layouts has changed (:data:`LAYOUT_VERSION` says which code made a stored layout).

Coordinates are millimetres from the TOP-LEFT corner of the page, y going down (as in a scanned
image); rectangles are ``[x, y, width, height]``. ``docs/paper.md`` documents the format.

One printed document registers ONE participant (one child for a child service): a family with
three children fills three forms. A household service's form has no participant block.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from flask import current_app
from flask_babel import gettext as _
from flask_babel import ngettext
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from inscriptions.allocation import explain
from inscriptions.allocation.status import rank_label
from inscriptions.definitions import schema as s
from inscriptions.definitions.registry import definition_of
from inscriptions.extensions import db
from inscriptions.models import FormVersion, PaperLayout
from inscriptions.paper.fonts import MM_PER_PT, pdf_text, width_mm, wrap
from inscriptions.paper.tokens import PAYLOAD_LENGTH

# Shape of the JSON document (a reader refuses a format it does not know).
LAYOUT_FORMAT = 1
# Version of the code below. Stored layouts keep the version that made them; changing a constant
# here only affects form versions printed for the first time afterwards.
# 2: several sessions to tick (``sessions_choice``) and the ranked grid (``alternatives``).
LAYOUT_VERSION = 2

PAGE_W, PAGE_H = 210.0, 297.0
MARK_SIZE = 6.0
MARK_CENTRE = 12.0  # from the page edges; sheet feeders crop up to ~5 mm
LEFT, RIGHT = 18.0, 192.0
WIDTH = RIGHT - LEFT
CONTENT_TOP, CONTENT_BOTTOM = 47.0, 272.0

QR_VERSION, QR_ERROR = 4, "M"
QR_MODULES = 33  # version 4
QR_MODULE_MM = 0.8
QR_QUIET = 4  # modules of white around the symbol
# A fixed mask pattern: choosing the best of 8 costs segno ~8 ms per page (most of a page's time);
# tested with zxing-cpp on blurred, noisy, rotated, JPEG-compressed images, all masks read alike.
QR_MASK = 2
QR_SIZE = round(QR_MODULES * QR_MODULE_MM, 2)  # 26.4 mm
QR_X, QR_Y = round(190.0 - QR_SIZE, 2), 13.0

CHECKBOX = 5.0
CHOICE_PITCH = 10.0  # minimum distance between two checkboxes' centres, both directions
CELL_W, CELL_H = 6.0, 8.0  # comb boxes: one handwritten character each
LINE_H = 8.0  # a line of handwriting in a text box
INDENT = 7.0  # questions' text and boxes start after the question number
# Ranked sessions: gap between the column groups of two sessions wanted, and the least width
# left to the session labels before the groups go one under another.
GROUP_GAP = 4.0
RANKED_LABEL_MIN, RANKED_LABEL_MAX = 60.0, 90.0

Rect = tuple[float, float, float, float]
Colour = str  # "#rrggbb", or "primary" / "primary_text" / "accent": the town's colours at print time


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TextItem(_Frozen):
    """Printed text; ``y`` is the baseline, ``size`` in points."""

    x: float
    y: float
    text: str
    size: float
    style: Literal["regular", "bold", "italic"] = "regular"
    colour: Colour = "#000000"
    align: Literal["left", "centre", "right"] = "left"


class Shape(_Frozen):
    """Decoration: a rectangle ``[x, y, w, h]`` or a line ``[x1, y1, x2, y2]`` (width in points)."""

    kind: Literal["rect", "line"]
    coords: Rect
    fill: Colour | None = None
    stroke: Colour | None = "#000000"
    width: float = 0.5


class Box(_Frozen):
    """Something the family fills in, read back from the scan.

    ``checkbox``: ``value`` is the answer it means (a choice value, ``true``/``false`` for yes/no
    and consent, ``"attached"`` for a document); ``comb``: one character per rectangle of
    ``cells``, ``format`` one of ``date`` (DDMMYYYY), ``postcode``, ``phone``, ``integer``;
    ``text``: handwriting on ``lines`` lines; ``signature``: ink expected, never typed.
    """

    id: str
    kind: Literal["checkbox", "comb", "text", "signature"]
    field: str
    rect: Rect
    value: str | bool | None = None
    cells: list[Rect] | None = None
    format: Literal["date", "postcode", "phone", "integer"] | None = None
    lines: int | None = None


class PageLayout(_Frozen):
    number: int
    texts: list[TextItem]
    shapes: list[Shape]
    boxes: list[Box]


class FieldInfo(_Frozen):
    """One answer the form asks for, by path (``days``, ``pickup.0.phone``, ``household.city``)."""

    path: str
    type: str
    label: str
    number: int | None = None  # question number printed on the form
    page: int
    each_participant: bool
    required: Literal["always", "online", "never"] = "never"
    # Health data and the like: its crops are shown only to roles allowed to see it.
    sensitive: bool = False
    # Checkbox questions: "one" (single choice, yes/no, session) or "many"; the boxes' values.
    select: Literal["one", "many"] | None = None
    values: list[str | bool] | None = None
    show_if: dict[str, Any] | None = None
    group: str | None = None
    item: int | None = None
    max_items: int | None = None


class QrSpec(_Frozen):
    """Where the QR code is and how it is made. ``rect`` is the symbol without its quiet zone."""

    rect: Rect
    version: int
    error: str
    modules: int
    module_mm: float
    quiet_zone: int
    payload_length: int
    # QR mask pattern; None: the encoder picks the best one (slower). A key added after format 1
    # was first stored gets a default that reproduces older layouts: stored JSON is never rewritten.
    mask: int | None = None


class FormLayout(_Frozen):
    """Everything printed at a fixed place on every copy of one form version."""

    format: int
    layout_version: int
    service_code: str
    form_version: int
    page_size: tuple[float, float]
    # What the participant block describes: a child, an adult, or nothing (household services).
    participant: Literal["child", "adult"] | None
    participants_per_document: int
    marks: list[Rect]
    qr: QrSpec
    code: Rect  # the human-readable code, under the QR code
    header: Rect  # town name and logo, filled at print time
    logo: Rect
    footer: Rect  # town contact, data protection notice, filled at print time
    content: Rect
    pages: list[PageLayout]
    fields: list[FieldInfo]

    @property
    def page_count(self) -> int:
        return len(self.pages)

    def boxes(self) -> Iterator[tuple[int, Box]]:
        """Every box with its page number."""
        for page in self.pages:
            for box in page.boxes:
                yield page.number, box

    def field(self, path: str) -> FieldInfo:
        for info in self.fields:
            if info.path == path:
                return info
        raise KeyError(path)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FormLayout:
        if data.get("format") != LAYOUT_FORMAT:
            raise ValueError(f"unknown paper layout format {data.get('format')!r}")
        return cls.model_validate(data)


# -- building blocks -----------------------------------------------------------------------------

@dataclass
class _Row:
    """A horizontal band placed as a whole; items' y are relative to the band's top."""

    height: float
    texts: list[dict[str, Any]] = field(default_factory=list)
    shapes: list[dict[str, Any]] = field(default_factory=list)
    boxes: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Q:
    """A question as the paper form asks it (definition fields and the engine's own questions)."""

    path: str
    kind: str  # one|many|yes_no|consent|text|long_text|email|phone|postcode|date|integer|file|group
    label: str
    help: str = ""
    required: str = "never"
    options: list[tuple[str | bool, str]] = field(default_factory=list)
    max_length: int = 200
    digits: int = 3
    hint: str = ""
    show_if: s.Condition | None = None
    subs: list[_Q] = field(default_factory=list)
    max_items: int = 0
    number: int | None = None
    each_participant: bool = False
    sensitive: bool = False
    schema_type: str = ""
    name: str = ""  # a group's sub-field: its name inside the group


def _line_height(size: float) -> float:
    return size * 1.3 * MM_PER_PT


def _text(x: float, y: float, text: str, size: float, style: str = "regular", colour: str = "#000000",
          align: str = "left") -> dict[str, Any]:
    return {"x": round(x, 2), "y": round(y, 2), "text": pdf_text(text), "size": size, "style": style,
            "colour": colour, "align": align}


def _para(text: str, size: float, x: float = LEFT, width: float = WIDTH, style: str = "regular",
          colour: str = "#000000", after: float = 0.0) -> list[_Row]:
    """One row per line, so long paragraphs may break across pages."""
    rows = []
    height = _line_height(size)
    for line in wrap(text, style, size, width):
        rows.append(_Row(height, texts=[_text(x, height * 0.78, line, size, style, colour)]))
    if rows and after:
        rows[-1].height += after
    return rows


def _spacer(height: float) -> _Row:
    return _Row(height)


def _heading(title: str) -> list[_Row]:
    """A band in the town's colour that opens a part of the form."""
    height = 6.0
    row = _Row(height + 2.5)
    row.shapes.append({"kind": "rect", "coords": (LEFT, 0.0, WIDTH, height), "fill": "primary", "stroke": None,
                       "width": 0.0})
    row.texts.append(_text(LEFT + 2.0, 4.3, title, 10.5, "bold", "primary_text"))
    return [row]


# -- inputs --------------------------------------------------------------------------------------

def _checkbox(row: _Row, x: float, y: float, path: str, value: str | bool) -> None:
    row.boxes.append({"kind": "checkbox", "field": path, "rect": (round(x, 2), round(y, 2), CHECKBOX, CHECKBOX),
                      "value": value})


def _options_width(options: list[tuple[str | bool, str]]) -> float:
    widest = max(width_mm(pdf_text(label), "regular", 9.5) for _v, label in options)
    return max(CHOICE_PITCH + 15.0, CHECKBOX + 2.0 + widest + 6.0)


def _choice_rows(path: str, options: list[tuple[str | bool, str]], x0: float, width: float) -> list[_Row]:
    """Options as 5 mm checkboxes in columns, boxes at least 10 mm apart both ways."""
    column = _options_width(options)
    columns = max(1, min(len(options), int((width + 6.0) // column)))
    label_width = (column if columns > 1 else width) - CHECKBOX - 2.0 - (6.0 if columns > 1 else 0.0)
    rows = []
    line = _line_height(9.5)
    for start in range(0, len(options), columns):
        chunk = options[start : start + columns]
        wrapped = [wrap(label, "regular", 9.5, label_width) for _v, label in chunk]
        height = max(CHOICE_PITCH, max(len(w) for w in wrapped) * line + 4.0)
        row = _Row(height)
        for i, ((value, _label), lines) in enumerate(zip(chunk, wrapped, strict=True)):
            x = x0 + i * column
            _checkbox(row, x, 1.0, path, value)
            for n, text in enumerate(lines):
                row.texts.append(_text(x + CHECKBOX + 2.0, 1.0 + CHECKBOX / 2 + 1.2 + n * line, text, 9.5))
        rows.append(row)
    return rows


def _comb_geometry(fmt: str, digits: int) -> list[tuple[float, str]]:
    """Cells as (x offset, separator printed before it)."""
    cells: list[tuple[float, str]] = []
    x = 0.0
    if fmt == "date":
        for i in range(8):
            sep = "/" if i in (2, 4) else ""
            if sep:
                x += 3.0
            cells.append((x, sep))
            x += CELL_W
    elif fmt == "phone":
        for i in range(10):
            if i and i % 2 == 0:
                x += 2.0
            cells.append((x, ""))
            x += CELL_W
    else:
        count = 5 if fmt == "postcode" else digits
        for _i in range(count):
            cells.append((x, ""))
            x += CELL_W
    return cells


def _comb_width(fmt: str, digits: int = 3) -> float:
    cells = _comb_geometry(fmt, digits)
    return cells[-1][0] + CELL_W


def _comb(row: _Row, x0: float, y: float, path: str, fmt: str, digits: int = 3) -> float:
    """Comb boxes at (x0, y); returns the height used (cells and their guide letters)."""
    geometry = _comb_geometry(fmt, digits)
    cells = [(round(x0 + dx, 2), round(y, 2), CELL_W, CELL_H) for dx, _sep in geometry]
    for (dx, sep), _cell in zip(geometry, cells, strict=True):
        if sep:
            row.texts.append(_text(x0 + dx - 1.5, y + CELL_H - 1.8, sep, 12, "regular", "#555555", "centre"))
    if fmt == "date":
        # "JJMMAAAA" in French: one guide letter under each cell.
        guide = "".join(c for c in _("DD/MM/YYYY") if c.isalpha())
        if len(guide) == 8:
            for (dx, _sep), letter in zip(geometry, guide, strict=True):
                row.texts.append(_text(x0 + dx + CELL_W / 2, y + CELL_H + 2.6, letter, 6.5, "regular", "#555555",
                                       "centre"))
    last = cells[-1]
    rect = (round(x0, 2), round(y, 2), round(last[0] + CELL_W - x0, 2), CELL_H)
    row.boxes.append({"kind": "comb", "field": path, "rect": rect, "cells": cells, "format": fmt})
    return CELL_H + (3.5 if fmt == "date" else 0.0)


def _text_lines(q: _Q, width: float) -> int:
    per_line = max(1, int(width // 3.2))  # handwritten capitals: about 3 mm each
    needed = math.ceil(q.max_length / per_line)
    if q.kind == "long_text":
        return max(3, min(5, needed))
    if q.kind == "email":
        return 1
    return max(1, min(3, needed))


def _text_width(q: _Q, width: float) -> float:
    if q.kind in ("long_text", "email"):
        return width
    return min(width, max(30.0, q.max_length * 3.2 + 4.0))


def _text_box(row: _Row, x: float, y: float, w: float, path: str, lines: int) -> float:
    height = 9.0 if lines == 1 else lines * LINE_H
    row.boxes.append({"kind": "text", "field": path, "rect": (round(x, 2), round(y, 2), round(w, 2), height),
                      "lines": lines})
    return height


def _input_rows(q: _Q, x0: float, width: float) -> list[_Row]:
    """The boxes of a question, below its label."""
    if q.kind in ("one", "many"):
        return _choice_rows(q.path, q.options, x0, width)
    if q.kind == "yes_no":
        return _choice_rows(q.path, [(True, _("Yes")), (False, _("No"))], x0, width)
    if q.kind == "consent":
        return _choice_rows(q.path, [(True, _("Yes, I agree"))], x0, width)
    if q.kind == "file":
        rows = _para(_("Attach a copy of the document to this form, then tick the box."), 8.5, x0, width,
                     colour="#333333", after=1.0)
        return rows + _choice_rows(q.path, [("attached", _("Document attached"))], x0, width)
    if q.kind in ("phone", "postcode", "date", "integer"):
        row = _Row(0.0)
        row.height = _comb(row, x0, 0.5, q.path, q.kind, q.digits) + 2.5
        return [row]
    row = _Row(0.0)
    lines = _text_lines(q, width)
    row.height = _text_box(row, x0, 0.5, _text_width(q, width), q.path, lines) + 2.0
    return [row]


# -- rows of small inputs (identity blocks, repeated groups) -------------------------------------

def _inline_width(q: _Q) -> tuple[float, bool]:
    """(minimum width, stretches?) of a question laid out with others on one row."""
    if q.kind in ("phone", "postcode", "date", "integer"):
        return _comb_width(q.kind, q.digits), False
    if q.kind in ("one", "many", "yes_no", "consent", "file"):
        options = _inline_options(q)
        return len(options) * _options_width(options), False
    if q.kind == "long_text":
        return WIDTH, True
    if q.max_length <= 12:
        return max(22.0, q.max_length * 4.0 + 4.0), False
    return 45.0, True


def _inline_options(q: _Q) -> list[tuple[str | bool, str]]:
    if q.kind == "yes_no":
        return [(True, _("Yes")), (False, _("No"))]
    if q.kind == "consent":
        return [(True, _("Yes, I agree"))]
    if q.kind == "file":
        return [("attached", _("Document attached"))]
    return q.options


def _inline_rows(qs: list[_Q], x0: float, width: float, gap: float = 5.0, prefix: str = "",
                 prefix_x: float = 0.0, labels: bool = True) -> list[_Row]:
    """Small labelled inputs side by side, wrapping to a new row when the width is used up.

    ``prefix`` (an item number) is printed at ``prefix_x`` beside the first row's boxes;
    ``labels=False`` leaves the labels out (later lines of a table whose first line has them).
    """
    groups: list[list[tuple[_Q, float, bool]]] = [[]]
    used = 0.0
    for q in qs:
        w, flex = _inline_width(q)
        w = min(w, width)
        if groups[-1] and used + gap + w > width:
            groups.append([])
            used = 0.0
        used += (gap if groups[-1] else 0.0) + w
        groups[-1].append((q, w, flex))
    # Without labels only when everything fits on one line (a table row); wrapped fields keep theirs.
    labels = labels or len(groups) > 1
    rows = []
    for group in groups:
        spare = width - sum(w for _q, w, _f in group) - gap * (len(group) - 1)
        flexible = [q for q, _w, f in group if f]
        extra = spare / len(flexible) if flexible else 0.0
        row = _Row(0.0)
        x = x0
        label_h = 0.0
        placed: list[tuple[_Q, float, float]] = []
        for q, w, flex in group:
            w = w + (extra if flex else 0.0)
            if labels:
                lines = wrap(q.label + (" *" if q.required == "always" else ""), "regular", 7.5, w)[:2]
                for n, text in enumerate(lines):
                    row.texts.append(_text(x, 2.6 + n * 3.2, text, 7.5, "regular", "#333333"))
                label_h = max(label_h, 3.6 + 3.2 * (len(lines) - 1))
            placed.append((q, x, w))
            x += w + gap
        top = label_h + 0.8 if labels else 0.5
        height = 0.0
        for q, qx, qw in placed:
            if q.kind in ("phone", "postcode", "date", "integer"):
                height = max(height, _comb(row, qx, top, q.path, q.kind, q.digits))
            elif q.kind in ("one", "many", "yes_no", "consent", "file"):
                options = _inline_options(q)
                column = _options_width(options)
                for i, (value, label) in enumerate(options):
                    _checkbox(row, qx + i * column, top + 1.0, q.path, value)
                    row.texts.append(_text(qx + i * column + CHECKBOX + 2.0, top + 4.7, label, 9.5))
                height = max(height, CHOICE_PITCH - 1.0)
            else:
                lines = 2 if q.kind == "long_text" else 1
                height = max(height, _text_box(row, qx, top, qw, q.path, lines))
        if prefix and not rows:
            row.texts.append(_text(prefix_x, top + 6.0, prefix, 10, "bold", "#333333"))
        row.height = top + height + 3.0
        rows.append(row)
    return rows


# -- questions -----------------------------------------------------------------------------------

def _condition_text(q: _Q, target: _Q | None, in_group: bool) -> str:
    cond = q.show_if
    if cond is None or target is None:
        return ""
    labels = {value: label for value, label in target.options}
    if cond.contains is not None:
        wanted = [labels.get(cond.contains, cond.contains)]
    elif cond.in_ is not None:
        wanted = [labels.get(v, v) for v in cond.in_]
    elif isinstance(cond.equals, bool):
        wanted = [_("Yes") if cond.equals else _("No")]
    elif target.kind == "integer":
        if in_group:
            return _("Fill in “%(this)s” only if you wrote %(value)s for “%(other)s”.",
                     this=q.label, value=cond.equals, other=target.label)
        return _("Answer question %(this)s only if you wrote %(value)s in question %(other)s.",
                 this=q.number, value=cond.equals, other=target.number)
    else:
        wanted = [labels.get(cond.equals, str(cond.equals))]
    choices = " / ".join(f"“{w}”" for w in wanted)
    if in_group:
        return _("Fill in “%(this)s” only if you ticked %(choices)s for “%(other)s”.",
                 this=q.label, choices=choices, other=target.label)
    return _("Answer question %(this)s only if you ticked %(choices)s in question %(other)s.",
             this=q.number, choices=choices, other=target.number)


def _question_rows(q: _Q, by_name: dict[str, _Q]) -> tuple[list[_Row], int]:
    """The rows of a question and how many of them must stay together (label with first boxes)."""
    title = q.label
    if q.required == "always" and q.kind != "group":
        title += " *"
    rows: list[_Row] = []
    number_row = True
    for line_row in _para(title, 10, LEFT + INDENT, WIDTH - INDENT, "bold"):
        if number_row and q.number is not None:
            line_row.texts.insert(0, _text(LEFT, line_row.texts[0]["y"], f"{q.number}.", 10, "bold"))
        number_row = False
        rows.append(line_row)
    condition = _condition_text(q, by_name.get(q.show_if.field) if q.show_if else None, in_group=False)
    if condition:
        rows += _para(condition, 8.5, LEFT + INDENT, WIDTH - INDENT, "italic", "accent")
    if q.help:
        rows += _para(q.help, 8.5, LEFT + INDENT, WIDTH - INDENT, colour="#333333")
    if q.hint:
        rows += _para(q.hint, 8.5, LEFT + INDENT, WIDTH - INDENT, "italic", "#333333")
    rows.append(_spacer(1.5))
    keep = len(rows) + 1
    if q.kind == "group":
        subs_by_name = {sub.name: sub for sub in q.subs}
        for i in range(q.max_items):
            item = [_copy_q(sub, f"{q.path}.{i}.{sub.name}") for sub in q.subs]
            notes = []
            for sub in item:
                if sub.show_if is not None:
                    notes.append(_condition_text(sub, subs_by_name.get(sub.show_if.field), in_group=True))
            # Column labels on the first line only, as in a table.
            rows += _inline_rows(item, LEFT + INDENT + 6.0, WIDTH - INDENT - 6.0, prefix=f"{i + 1}",
                                 prefix_x=LEFT + INDENT, labels=i == 0)
            for note in notes:
                rows += _para(note, 7.5, LEFT + INDENT + 6.0, WIDTH - INDENT - 6.0, "italic", "accent")
    else:
        rows += _input_rows(q, LEFT + INDENT, WIDTH - INDENT)
    rows[-1].height += 3.5
    return rows, keep


def _copy_q(q: _Q, path: str) -> _Q:
    return _Q(path=path, kind=q.kind, label=q.label, help=q.help, required=q.required, options=q.options,
              max_length=q.max_length, digits=q.digits, show_if=q.show_if, schema_type=q.schema_type, name=q.name,
              sensitive=q.sensitive)


def _from_field(fld: s.AnyField, each_participant: bool) -> _Q:
    kinds = {
        "single_choice": "one", "multiple_choice": "many", "weekdays": "many", "yes_no": "yes_no",
        "consent": "consent", "text": "text", "long_text": "long_text", "email": "email", "phone_fr": "phone",
        "postcode_fr": "postcode", "date": "date", "integer": "integer", "file": "file", "group": "group",
    }
    q = _Q(path=fld.name, kind=kinds[fld.type], label=fld.label, help=fld.help, required=fld.required,
           show_if=fld.show_if, each_participant=each_participant, schema_type=fld.type,
           sensitive=fld.sensitive)
    if isinstance(fld, s.SingleChoiceField | s.MultipleChoiceField):
        q.options = [(c.value, c.label) for c in fld.choices]
    elif isinstance(fld, s.WeekdaysField):
        q.options = [(d, _weekday(d)) for d in fld.days]
    elif isinstance(fld, s.TextField | s.LongTextField):
        q.max_length = fld.max_length
    elif isinstance(fld, s.IntegerField):
        q.digits = max(len(str(abs(v))) for v in (fld.min, fld.max) if v is not None) if (
            fld.min is not None or fld.max is not None) else 3
        if fld.min is not None and fld.max is not None:
            q.hint = _("A whole number between %(min)s and %(max)s.", min=fld.min, max=fld.max)
    elif isinstance(fld, s.GroupField):
        q.max_items = fld.max_items
        subs = []
        for sub in fld.fields:
            sub_q = _from_field(sub, each_participant)
            sub_q.name = sub.name
            subs.append(sub_q)
        q.subs = subs
        q.hint = _("Up to %(n)s lines; leave the others empty.", n=fld.max_items)
    if q.kind == "many" and isinstance(fld, s.MultipleChoiceField | s.WeekdaysField):
        q.hint = _("Tick every answer that applies.")
    if q.kind == "email":
        q.hint = _("In capital letters, one character at a time.")
    return q


def _weekday(day: str) -> str:
    names = {"mon": _("Monday"), "tue": _("Tuesday"), "wed": _("Wednesday"), "thu": _("Thursday"),
             "fri": _("Friday"), "sat": _("Saturday"), "sun": _("Sunday")}
    return names[day]


# -- the whole form ------------------------------------------------------------------------------

class _Builder:
    def __init__(self, defn: s.ServiceDefinition, version: int):
        self.defn = defn
        self.version = version
        self.pages: list[dict[str, list[dict[str, Any]]]] = []
        self.y = CONTENT_TOP
        self.questions: list[_Q] = []
        # Headings and intros wait here to be placed with what follows them (no orphan heading).
        self.pending: list[_Row] = []
        self.new_page()

    def new_page(self) -> None:
        self.pages.append({"texts": [], "shapes": [], "boxes": []})
        self.y = CONTENT_TOP
        self._header()

    def _header(self) -> None:
        page = self.pages[-1]
        page["texts"].append(_text(40.0, 25.0, self.defn.name, 12, "bold"))
        page["texts"].append(_text(40.0, 30.5, _("Registration form, version %(n)s", n=self.version), 8.5,
                                   "regular", "#333333"))
        page["shapes"].append({"kind": "line", "coords": (LEFT, 42.0, 156.0, 42.0), "stroke": "primary",
                               "width": 1.0, "fill": None})

    def hold(self, rows: list[_Row]) -> None:
        """Rows to place together with the next ones (a heading with its first question)."""
        self.pending += rows

    def place(self, rows: list[_Row], keep: int = 1, continued: str = "") -> None:
        """Place rows top to bottom; the first ``keep`` rows stay on one page."""
        if self.pending:
            rows, keep = self.pending + rows, len(self.pending) + keep
            self.pending = []
        for i, row in enumerate(rows):
            need = sum(r.height for r in rows[i : i + keep]) if i == 0 else row.height
            if self.y + need > CONTENT_BOTTOM and self.y > CONTENT_TOP:
                self.new_page()
                if i > 0 and continued:
                    for cont in _para(continued, 8.5, LEFT, WIDTH, "italic", "#333333", after=1.0):
                        self._put(cont)
            self._put(row)

    def _put(self, row: _Row) -> None:
        page = self.pages[-1]
        for t in row.texts:
            page["texts"].append({**t, "y": round(t["y"] + self.y, 2)})
        for sh in row.shapes:
            x, y, w, h = sh["coords"]
            coords = (x, round(y + self.y, 2), w, h) if sh["kind"] == "rect" else (x, round(y + self.y, 2), w,
                                                                                   round(h + self.y, 2))
            page["shapes"].append({**sh, "coords": coords})
        for box in row.boxes:
            x, y, w, h = box["rect"]
            moved = {**box, "rect": (x, round(y + self.y, 2), w, h)}
            if box.get("cells"):
                moved["cells"] = [(cx, round(cy + self.y, 2), cw, ch) for cx, cy, cw, ch in box["cells"]]
            page["boxes"].append(moved)
        self.y += row.height

    # -- parts --
    def intro(self) -> None:
        self.place(_para(_("Registration form"), 14, style="bold", after=1.0))
        if self.defn.description:
            self.place(_para(self.defn.description, 9, after=2.0))
        if self.defn.allocation.uses_draw:
            # Paper equality: the family on paper knows its form is ranked with the others (the
            # same draw, the same points), and until when it must arrive.
            self.place(_para(explain.rule_summary(self.defn), 9, style="bold", after=1.0))
            for line in explain.criteria_lines(self.defn) + explain.weights_lines(self.defn):
                self.place(_para("– " + line, 9, after=0.5))
            self.place([_spacer(1.0)])
        self.instructions()

    def instructions(self) -> None:
        row_h = 5.0
        lines = [
            _("Write in black or blue pen, not in pencil. Write in capital letters, one character per box."),
            _("To answer, put a cross inside the box, like this:"),
            _("To correct a box ticked by mistake, fill it in completely, like this:"),
            _("Questions marked * must be answered. Then bring or post this form to the town hall; keep the "
              "pages together and do not fold the codes in the corners."),
        ]
        rows: list[_Row] = []
        for n, text in enumerate(lines):
            wrapped = wrap(text, "regular", 8.5, WIDTH - 20.0)
            row = _Row(max(row_h, len(wrapped) * _line_height(8.5) + 1.0))
            for k, line in enumerate(wrapped):
                row.texts.append(_text(LEFT + 4.0, 3.6 + k * _line_height(8.5), line, 8.5))
            if n in (1, 2):
                # An example box drawn as decoration (the reader never reads it).
                end = LEFT + 4.0 + width_mm(wrapped[-1], "regular", 8.5) + 3.0
                top = 0.4 + (len(wrapped) - 1) * _line_height(8.5)
                row.shapes.append({"kind": "rect", "coords": (end, top, 4.0, 4.0), "fill": "#000000" if n == 2
                                   else None, "stroke": "#000000", "width": 1.0})
                if n == 1:
                    row.shapes.append({"kind": "line", "coords": (end + 0.6, top + 0.6, end + 3.4, top + 3.4),
                                       "stroke": "#1a3a8a", "width": 1.4, "fill": None})
                    row.shapes.append({"kind": "line", "coords": (end + 3.4, top + 0.6, end + 0.6, top + 3.4),
                                       "stroke": "#1a3a8a", "width": 1.4, "fill": None})
            rows.append(row)
        total = sum(r.height for r in rows) + 3.0
        frame = _Row(0.0)
        frame.shapes.append({"kind": "rect", "coords": (LEFT, 0.0, WIDTH, total), "fill": None, "stroke": "#555555",
                             "width": 0.5})
        rows[0].shapes += frame.shapes
        rows[0].height += 1.5
        rows[-1].height += 1.5 + 4.0
        self.place(rows, keep=len(rows))

    def household(self) -> None:
        self.hold(_heading(_("Legal guardian")))
        qs = [
            _Q("household.last_name", "text", _("Last name"), max_length=60),
            _Q("household.first_name", "text", _("First name"), max_length=60),
            _Q("household.address_line1", "text", _("Address"), max_length=200),
            _Q("household.address_line2", "text", _("Address (continued)"), max_length=200),
            _Q("household.postcode", "postcode", _("Postcode")),
            _Q("household.city", "text", _("Town or city"), max_length=100),
            _Q("household.phone", "phone", _("Phone")),
            _Q("household.email", "email", _("E-mail (optional)"), max_length=254),
        ]
        self._identity(qs)

    def participant(self) -> None:
        if self.defn.audience == "child":
            self.hold(_heading(_("The child")))
            qs = [
                _Q("participant.last_name", "text", _("Last name"), max_length=60),
                _Q("participant.first_name", "text", _("First name"), max_length=60),
                _Q("participant.birth_date", "date", _("Date of birth")),
                _Q("participant.school", "text", _("School"), max_length=60),
                _Q("participant.class_name", "text", _("Class"), max_length=6),
            ]
        else:
            self.hold(_heading(_("The person registered")))
            qs = [
                _Q("participant.last_name", "text", _("Last name"), max_length=60),
                _Q("participant.first_name", "text", _("First name"), max_length=60),
                _Q("participant.birth_date", "date", _("Date of birth")),
            ]
        self._identity(qs, each_participant=True)

    def _identity(self, qs: list[_Q], each_participant: bool = False) -> None:
        for q in qs:
            q.each_participant = each_participant
            q.required = "never" if q.path in ("household.email", "household.address_line2") else "always"
            q.schema_type = {"text": "text", "email": "email", "phone": "phone_fr", "postcode": "postcode_fr",
                             "date": "date"}[q.kind]
        pairs = [qs[i : i + 2] for i in range(0, len(qs), 2)] if not each_participant else [qs[:2], qs[2:]]
        for pair in pairs:
            self.place(_inline_rows(pair, LEFT, WIDTH))
        self.y += 3.0
        self.questions += qs

    def sessions(self) -> None:
        """The session question: one box per session, ticked once (``session``: one session) or
        several times (``sessions_choice.max`` > 1); with ranked alternatives, a grid (see
        :meth:`ranked_sessions`)."""
        if not self.defn.sessions:
            return
        options: list[tuple[str | bool, str]] = [(sess.code, sess.label) for sess in self.defn.sessions]
        if self.defn.alternatives:
            self.ranked_sessions(options)
            return
        if self.defn.sessions_choice.max > 1:
            q = _Q("session", "many", _("Which sessions?"), required="always", schema_type="session",
                   options=options, hint=tick_hint(self.defn))
        else:
            q = _Q("session", "one", _("Which session?"), required="always", schema_type="session",
                   options=options)
        self.question(q)

    def ranked_sessions(self, options: list[tuple[str | bool, str]]) -> None:
        """Ranked alternatives: a table per session wanted (side by side when they fit), one row
        per session, one column per rank ("1st choice", "2nd choice"...). Each column is a
        single choice of its own, path ``session.<wish>.<rank>`` (from 1): the reader reads it
        like any single choice, and :func:`session_cells` turns the columns back into wishes."""
        choice = self.defn.sessions_choice
        ranks = 1 + self.defn.alternatives
        several = choice.max > 1
        q = _Q("session", "ranked", _("Which sessions?") if several else _("Which session?"),
               required="always", schema_type="session", options=options)
        q.number = 1 + sum(1 for other in self.questions if other.number is not None)
        for wish in range(1, choice.max + 1):
            for rank in range(1, ranks + 1):
                label = rank_label(rank)
                if several:
                    label = _("Session wanted no. %(n)s", n=wish) + " – " + label
                q.subs.append(_Q(f"session.{wish}.{rank}", "one", label, options=options, schema_type="session",
                                 required="always" if rank == 1 and wish <= choice.min else "never",
                                 number=q.number))
        self.questions.append(q)
        # The question's text as _question_rows prints it (number, bold label, asterisk).
        rows = _para(q.label + " *", 10, LEFT + INDENT, WIDTH - INDENT, "bold")
        rows[0].texts.insert(0, _text(LEFT, rows[0].texts[0]["y"], f"{q.number}.", 10, "bold"))
        if several:
            rows += _para(tick_hint(self.defn), 8.5, LEFT + INDENT, WIDTH - INDENT, "italic", "#333333")
            help_text = _("For each session wanted, tick its 1st choice in the “1st choice” column, then the "
                          "alternatives if the 1st choice is full: one box per column.")
        else:
            help_text = _("Tick your 1st choice in the “1st choice” column, then the alternatives if the 1st "
                          "choice is full: one box per column.")
        rows += _para(help_text, 8.5, LEFT + INDENT, WIDTH - INDENT, "italic", "#333333", after=1.5)
        keep = len(rows)
        # Columns wide enough for their title; groups (sessions wanted) side by side while the
        # session labels keep at least LABEL_MIN millimetres, else one table under another.
        pitch = max(CHOICE_PITCH + 2.0, max(width_mm(pdf_text(rank_label(r)), "bold", 7.5) for r in
                                            range(1, ranks + 1)) + 2.0)
        group = ranks * pitch + GROUP_GAP
        available = WIDTH - INDENT
        per_line = max(1, min(choice.max, int((available - RANKED_LABEL_MIN) // group)))
        # Boxes close to their labels: a short table does not stretch to the right margin.
        label_width = min(available - per_line * group, RANKED_LABEL_MAX)
        x0 = LEFT + INDENT
        for first in range(1, choice.max + 1, per_line):
            wishes = list(range(first, min(choice.max, first + per_line - 1) + 1))
            header = _Row(0.0)
            top = 0.0
            if several:
                for n, wish in enumerate(wishes):
                    gx = x0 + label_width + n * group
                    header.texts.append(_text(gx + ranks * pitch / 2, 3.0, _("Session wanted no. %(n)s", n=wish),
                                              7.5, "bold", "#000000", "centre"))
                    header.shapes.append({"kind": "line", "coords": (gx, 4.2, gx + ranks * pitch, 4.2),
                                          "stroke": "#555555", "width": 0.5, "fill": None})
                top = 5.0
            for n, _wish in enumerate(wishes):
                for rank in range(1, ranks + 1):
                    cx = x0 + label_width + n * group + (rank - 0.5) * pitch
                    header.texts.append(_text(cx, top + 3.2, rank_label(rank), 7.5, "bold", "#333333", "centre"))
            header.height = top + 5.0
            body: list[_Row] = []
            line = _line_height(9.5)
            for value, label in options:
                wrapped = wrap(label, "regular", 9.5, label_width - 3.0)
                row = _Row(max(CHOICE_PITCH, len(wrapped) * line + 4.0))
                for k, text in enumerate(wrapped):
                    row.texts.append(_text(x0, 1.0 + CHECKBOX / 2 + 1.2 + k * line, text, 9.5))
                for n, wish in enumerate(wishes):
                    for rank in range(1, ranks + 1):
                        cx = x0 + label_width + n * group + (rank - 0.5) * pitch
                        _checkbox(row, cx - CHECKBOX / 2, 1.0, f"session.{wish}.{rank}", value)
                body.append(row)
            body[-1].height += 2.0
            # A table stays on one page with its column titles (and the question's text): only a
            # table taller than a page (some twenty sessions) is continued without them.
            self.place([*rows, header, *body], keep=keep + 1 + len(body),
                       continued=_("Question %(n)s (continued)", n=q.number))
            rows, keep = [], 0
        self.y += 1.0

    def question(self, q: _Q) -> None:
        q.number = 1 + sum(1 for other in self.questions if other.number is not None)
        self.questions.append(q)
        rows, keep = _question_rows(q, {o.path: o for o in self.questions})
        self.place(rows, keep=keep, continued=_("Question %(n)s (continued)", n=q.number))

    def form_pages(self) -> None:
        participant_done = self.defn.audience == "household"
        for page in self.defn.form.pages:
            each = self.defn.page_is_per_participant(page)
            if each and not participant_done:
                self.participant()
                participant_done = True
            self.hold(_heading(page.title))
            if page.intro:
                self.hold(_para(page.intro, 9, after=2.0))
            for fld in page.fields:
                self.question(_from_field(fld, each))
        if not participant_done:
            self.participant()

    def signature(self) -> None:
        rows = _heading(_("Date and signature"))
        row = _Row(0.0)
        statement = wrap(_("I certify that the information on this form is accurate."), "regular", 9, 68.0)[:2]
        for n, line in enumerate(statement):
            row.texts.append(_text(LEFT, 3.5 + n * _line_height(9), line, 9))
        top = 3.5 + len(statement) * _line_height(9) + 1.0
        row.texts.append(_text(LEFT, top + 2.6, _("Date"), 7.5, "regular", "#333333"))
        height = top + 4.0 + _comb(row, LEFT, top + 4.0, "signature.date", "date")
        row.texts.append(_text(LEFT + 75.0, 2.6, _("Signature of the legal guardian"), 7.5, "regular", "#333333"))
        row.boxes.append({"kind": "signature", "field": "signature", "rect": (LEFT + 75.0, 4.0, WIDTH - 75.0, 22.0)})
        row.height = max(height, 4.0 + 22.0) + 2.0
        rows.append(row)
        self.place(rows, keep=len(rows))
        self.questions.append(_Q("signature.date", "date", _("Date"), required="always", schema_type="date"))
        self.questions.append(_Q("signature", "signature", _("Signature of the legal guardian"),
                                 required="always", schema_type="signature"))


def tick_hint(defn: s.ServiceDefinition) -> str:
    """How many sessions to tick, as the paper form says it."""
    low, high = defn.sessions_choice.min, defn.sessions_choice.max
    if low == high:
        return ngettext("Tick the %(num)s session you want.", "Tick the %(num)s sessions you want.", high)
    return _("Tick the sessions you want: at least %(min)s, at most %(max)s.", min=low, max=high)


def compute_layout(defn: s.ServiceDefinition, service_code: str, version: int) -> FormLayout:
    """The paper layout of a definition (pure function of the definition and the code constants)."""
    builder = _Builder(defn, version)
    builder.intro()
    builder.household()
    builder.sessions()
    builder.form_pages()
    builder.signature()

    total = len(builder.pages)
    pages = []
    first_page: dict[str, int] = {}
    for number, page in enumerate(builder.pages, start=1):
        page["texts"].append(_text(RIGHT, 292.0, _("Page %(x)s of %(y)s", x=number, y=total), 8, "bold",
                                   "#000000", "right"))
        boxes = []
        for n, box in enumerate(page["boxes"], start=1):
            boxes.append({"id": f"p{number}-{n}", **box})
            first_page.setdefault(box["field"], number)
        pages.append({"number": number, "texts": page["texts"], "shapes": page["shapes"], "boxes": boxes})

    fields = []
    for q in builder.questions:
        fields += _field_infos(q, first_page)
    data = {
        "format": LAYOUT_FORMAT,
        "layout_version": LAYOUT_VERSION,
        "service_code": service_code,
        "form_version": version,
        "page_size": (PAGE_W, PAGE_H),
        "participant": None if defn.audience == "household" else defn.audience,
        "participants_per_document": 0 if defn.audience == "household" else 1,
        "marks": [_mark(cx, cy) for cy in (MARK_CENTRE, PAGE_H - MARK_CENTRE)
                  for cx in (MARK_CENTRE, PAGE_W - MARK_CENTRE)],
        "qr": {"rect": (QR_X, QR_Y, QR_SIZE, QR_SIZE), "version": QR_VERSION, "error": QR_ERROR, "mask": QR_MASK,
               "modules": QR_MODULES, "module_mm": QR_MODULE_MM, "quiet_zone": QR_QUIET,
               "payload_length": PAYLOAD_LENGTH},
        "code": (QR_X - 2.0, QR_Y + QR_SIZE + 1.5, QR_SIZE + 4.0, 4.5),
        "header": (LEFT, 10.0, 136.0, 34.0),
        "logo": (LEFT, 12.0, 18.0, 18.0),
        "footer": (LEFT, 274.0, WIDTH, 20.0),
        "content": (LEFT, CONTENT_TOP, WIDTH, CONTENT_BOTTOM - CONTENT_TOP),
        "pages": pages,
        "fields": fields,
    }
    return FormLayout.from_json(data)


def _mark(cx: float, cy: float) -> Rect:
    return (cx - MARK_SIZE / 2, cy - MARK_SIZE / 2, MARK_SIZE, MARK_SIZE)


def _field_infos(q: _Q, first_page: dict[str, int]) -> list[dict[str, Any]]:
    def info(path: str, sub: _Q, **extra: Any) -> dict[str, Any]:
        values = None
        select_kind = None
        if sub.kind in ("one", "many"):
            values = [v for v, _label in sub.options]
            select_kind = "one" if sub.kind == "one" else "many"
        elif sub.kind == "yes_no":
            values, select_kind = [True, False], "one"
        elif sub.kind == "consent":
            values, select_kind = [True], "one"
        elif sub.kind == "file":
            values, select_kind = ["attached"], "one"
        return {
            "path": path, "type": sub.schema_type, "label": pdf_text(sub.label), "number": sub.number,
            "page": first_page.get(path, 1), "each_participant": sub.each_participant, "required": sub.required,
            "sensitive": sub.sensitive,
            "select": select_kind, "values": values,
            "show_if": sub.show_if.model_dump(mode="json", by_alias=True, exclude_none=True) if sub.show_if else None,
            **extra,
        }

    if q.kind == "ranked":
        # The grid of ranked sessions: one single choice per column, nothing for the whole.
        return [info(sub.path, sub) for sub in q.subs]
    if q.kind != "group":
        return [info(q.path, q)]
    first = min((p for path, p in first_page.items() if path.startswith(f"{q.path}.")), default=1)
    out = [{**info(q.path, q, max_items=q.max_items), "page": first}]
    for i in range(q.max_items):
        for sub in q.subs:
            sub.each_participant = q.each_participant
            sub.sensitive = sub.sensitive or q.sensitive
            out.append(info(f"{q.path}.{i}.{sub.name}", sub, group=q.path, item=i))
    return out


# -- frozen per form version ---------------------------------------------------------------------

_CACHE_KEY = "inscriptions.paper.layouts"


def layout_for(version: FormVersion) -> FormLayout:
    """The frozen layout of ``version``: the stored one, or computed and stored now (no commit).

    Several processes may print a new version at once: the unique constraint on
    ``form_version_id`` makes one layout win; the others read it.
    """
    cache: dict[int, FormLayout] = current_app.extensions.setdefault(_CACHE_KEY, {})
    if version.id in cache:
        return cache[version.id]
    row = db.session.scalar(select(PaperLayout).filter_by(form_version_id=version.id))
    if row is None:
        layout = compute_layout(definition_of(version), version.service_code, version.version)
        row = PaperLayout(form_version_id=version.id, layout_version=LAYOUT_VERSION, layout=layout.to_json())
        try:
            with db.session.begin_nested():
                db.session.add(row)
                db.session.flush()
        except IntegrityError:
            row = db.session.scalar(select(PaperLayout).filter_by(form_version_id=version.id))
            if row is None:
                raise
    layout = FormLayout.from_json(row.layout)
    cache[version.id] = layout
    return layout


def stored_layout(form_version_id: int) -> FormLayout | None:
    """The layout a printout of this form version was made with (for the scan reader), if any."""
    row = db.session.scalar(select(PaperLayout).filter_by(form_version_id=form_version_id))
    return FormLayout.from_json(row.layout) if row is not None else None
