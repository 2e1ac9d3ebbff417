"""The interface is French: every message of the code has a reviewed French translation."""

from __future__ import annotations

import re

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from inscriptions.settings import PROJECT_ROOT

PO = PROJECT_ROOT / "inscriptions" / "translations" / "fr" / "LC_MESSAGES" / "messages.po"
PLACEHOLDER = re.compile(r"%\((\w+)\)s")
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None}
METHODS = [
    ("inscriptions/**.py", "python"),
    ("plugins/**.py", "python"),
    ("templates/**.html", "jinja2"),
    ("templates/**.txt", "jinja2"),
]


def catalog():  # type: ignore[no-untyped-def]
    with PO.open("rb") as source:
        return read_po(source, locale="fr")


def test_every_message_is_translated_and_reviewed():
    problems = []
    for message in catalog():
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not all(strings):
            problems.append(f"untranslated: {message.id!r}")
        if message.fuzzy:
            problems.append(f"fuzzy (not reviewed): {message.id!r}")
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        wanted = set(PLACEHOLDER.findall(ids[0]))
        for text in strings:
            if set(PLACEHOLDER.findall(text or "")) - wanted:
                problems.append(f"unknown placeholder in the translation of {ids[0]!r}")
    assert problems == []


def test_catalog_has_every_message_of_the_code():
    known = {m.id if isinstance(m.id, str) else m.id[0] for m in catalog()}
    missing = set()
    for _file, _line, msgid, _comments, _context in extract_from_dir(
        str(PROJECT_ROOT), METHODS, keywords={**KEYWORDS}, options_map={}
    ):
        first = msgid if isinstance(msgid, str) else msgid[0]
        if first and first not in known:
            missing.add(first)
    assert not missing, (
        "messages missing from the French catalog (run pybabel extract/update, see README): "
        f"{sorted(missing)[:10]}"
    )
