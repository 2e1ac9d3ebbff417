"""One input boundary: every text that comes in is checked and normalised once, here.

Query strings, form fields, uploaded file names (the request class's storage,
:class:`CleanRequest`) and JSON bodies (:func:`load_json`, the API's one reader) go through
:func:`clean_text`:

* NUL and the other control characters (C0 but tab, line feed and carriage return, and DEL) are
  refused: PostgreSQL cannot store NUL in text, and no person types the others. The request gets
  a 400 page that says why (:class:`BadInput`), nothing is written.
* Bidirectional overrides and isolates (U+202A–U+202E, U+2066–U+2069) are removed: they could
  make a name read differently on an agent's screen ("Trojan source").
* The text is put in Unicode NFC, so "é" typed as one character or as "e" + accent is stored,
  searched and compared the same.

JSON bodies are also limited in nesting depth (the parser would otherwise recurse until it
fails) and must be a plain tree of strings, numbers, booleans and null.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata
from collections.abc import Iterable
from typing import Any

from flask import Request
from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import FileStorage, ImmutableMultiDict
from werkzeug.exceptions import BadRequest

CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
# Deeper than any body the API defines (an application is 4 levels deep).
MAX_JSON_DEPTH = 32
# Dates typed in filters and forms: anything outside is a typing slip (and 0001-01-01 or
# 9999-12-31 overflow once turned into a moment in UTC).
FIRST_YEAR, LAST_YEAR = 1900, 2200


class BadInput(BadRequest):
    """A text with a character no person types; the page says so in French."""

    description = _l("The text sent contains an invisible control character that cannot be saved. Remove it "
                     "(retype the text rather than paste it) and send again. Nothing was saved.")


def clean_text(value: str) -> str:
    """``value`` without bidirectional controls, in NFC; raises :class:`BadInput` when it holds
    a control character."""
    if CONTROL.search(value):
        raise BadInput()
    if BIDI_CONTROLS.search(value):
        value = BIDI_CONTROLS.sub("", value)
    return value if value.isascii() else unicodedata.normalize("NFC", value)


def _clean_value(value: Any) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, FileStorage) and value.filename:
        value.filename = clean_text(value.filename)
    return value


def _items(mapping: Any) -> Iterable[tuple[Any, Any]]:
    if mapping is None:
        return
    if isinstance(mapping, dict) or hasattr(mapping, "items"):
        # A MultiDict keeps every value of a key (items(multi=True)); a dict has one.
        pairs = mapping.items(multi=True) if hasattr(mapping, "getlist") else mapping.items()
        for key, value in pairs:
            if isinstance(value, list | tuple) and not hasattr(mapping, "getlist"):
                for one in value:
                    yield key, one
            else:
                yield key, value
        return
    yield from mapping


class CleanMultiDict(ImmutableMultiDict):  # type: ignore[type-arg]
    """The request's query string, form and files, every key and text value through
    :func:`clean_text` as they are parsed."""

    def __init__(self, mapping: Any = None) -> None:
        super().__init__([(_clean_value(key), _clean_value(value)) for key, value in _items(mapping)])


class CleanRequest(Request):
    """Flask's request, with :class:`CleanMultiDict` for ``args``, ``form`` and ``files``."""

    parameter_storage_class = CleanMultiDict


def _depth(text: str) -> int:
    """The nesting depth of a JSON text's arrays and objects (strings skipped)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _clean_json(value: Any) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list):
        return [_clean_json(v) for v in value]
    if isinstance(value, dict):
        return {clean_text(k): _clean_json(v) for k, v in value.items()}
    return value


def load_json(data: bytes) -> Any:
    """Parse a JSON body: ValueError when it is not JSON (NaN and Infinity included) or nests
    deeper than :data:`MAX_JSON_DEPTH`; :class:`BadInput` for a control character in a string
    (``\\u0000`` included, once decoded)."""
    text = data.decode("utf-8")
    if _depth(text) > MAX_JSON_DEPTH:
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH}")
    return _clean_json(json.loads(text, parse_constant=_reject_constant))


def filter_day(text: str) -> dt.date:
    """A day as a date input sends it (``2026-09-14``) or as typed (``14/09/2026``), ASCII digits
    only and between :data:`FIRST_YEAR` and :data:`LAST_YEAR`; ValueError otherwise."""
    text = text.strip()
    if not text.isascii() or len(text) > 10:
        raise ValueError("not a date")
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        day = dt.datetime.strptime(text, "%d/%m/%Y").date()
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise ValueError(f"year {day.year} out of range")
    return day
