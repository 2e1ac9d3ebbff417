"""Answers flagged ``sensitive`` (health, PAI, allergies) are for the roles granted to read them.

Every staff screen that shows answers filters them through :func:`answers_for`: the counter's
registration page, the API for agents, the scan evidence. The family always sees its own.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from inscriptions.definitions import schema as s
from inscriptions.models import Account
from inscriptions.permissions import can
from inscriptions.privacy.sealing import unsealed


def sensitive_names(defn: s.ServiceDefinition) -> set[str]:
    """Names of sensitive fields, top-level (``allergies``) and in groups (``contacts.health``)."""
    names: set[str] = set()
    for _page, fld in defn.iter_fields():
        if fld.sensitive:
            names.add(fld.name)
        elif isinstance(fld, s.GroupField):
            names |= {f"{fld.name}.{sub.name}" for sub in fld.fields if sub.sensitive}
    return names


def without_sensitive(defn: s.ServiceDefinition, answers: Mapping[str, Any]) -> dict[str, Any]:
    """``answers`` less the fields (and group sub-fields) flagged sensitive."""
    kept: dict[str, Any] = {}
    groups = {fld.name: fld for _p, fld in defn.iter_fields() if isinstance(fld, s.GroupField)}
    hidden = sensitive_names(defn)
    for name, value in answers.items():
        if name in hidden:
            continue
        group = groups.get(name)
        if group is not None and isinstance(value, list):
            subs = {sub.name for sub in group.fields if f"{name}.{sub.name}" in hidden}
            value = [{k: v for k, v in row.items() if k not in subs} if isinstance(row, dict) else row
                     for row in value]
        kept[name] = value
    return kept


def may_read_sensitive(account: Account | None, service_code: str) -> bool:
    return can(account, "read_sensitive_answers", service_code)


def answers_for(account: Account | None, defn: s.ServiceDefinition, service_code: str,
                answers: Mapping[str, Any]) -> dict[str, Any]:
    """The answers ``account`` (staff) may see: all of them with the permission, else without sensitive ones."""
    if may_read_sensitive(account, service_code):
        return unsealed(dict(answers))
    return without_sensitive(defn, answers)


def answer_pages_for(account: Account | None, registration: Any) -> tuple[list[tuple[str, list[Any]]], bool]:
    """A registration's answers as ``account`` (staff) may read them, in words, page by page.

    Returns ``([(page title, answers), ...], sensitive_shown)``; pages left without an answer to
    show are dropped. The counter's and the back office's registration pages both show this.
    """
    from inscriptions.definitions.registry import definition_for
    from inscriptions.forms import web

    defn = definition_for(registration.form_version_id)
    sensitive = may_read_sensitive(account, registration.service_code)
    values = dict(registration.answers or {})
    # Sealed answers opened for the allowed reader only; the others lose them, group sub-fields
    # too (the filter below sees top-level fields only).
    values = unsealed(values) if sensitive else without_sensitive(defn, values)
    pages = []
    for page in defn.form.pages:
        answers = [a for a in web.answers_in_words(page.fields, values) if sensitive or not a.sensitive]
        if answers:
            pages.append((page.title, answers))
    return pages, sensitive


def hides_path(defn: s.ServiceDefinition, path: str) -> bool:
    """Whether a dotted answer path (``allergies``, ``contacts.0.health``, ``p1.allergies``) is sensitive.

    Paths of scanned documents may be prefixed (participant index) or indexed (group rows): any
    sensitive field name among the path's parts, or a sensitive ``group.sub`` pair, matches.
    """
    hidden = sensitive_names(defn)
    parts = [p for p in path.split(".") if not p.isdigit()]
    if any(p in hidden for p in parts):
        return True
    return any(f"{a}.{b}" in hidden for a, b in itertools.pairwise(parts))


def staff_document_tokens(account: Account | None, registration: Any) -> set[str]:
    """The upload tokens among ``registration``'s answers that ``account`` (staff) may open: those
    of the answers :func:`answer_pages_for` shows them (a sensitive field's file needs the
    permission to read health data)."""
    from inscriptions.definitions.registry import definition_for
    from inscriptions.forms import web

    defn = definition_for(registration.form_version_id)
    values = dict(registration.answers or {})
    if not may_read_sensitive(account, registration.service_code):
        values = without_sensitive(defn, values)
    else:
        values = unsealed(values)
    return set(web.file_tokens([f for page in defn.form.pages for f in page.fields], values))
