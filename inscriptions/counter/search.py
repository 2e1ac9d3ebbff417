"""Finding a household at the counter: by a guardian's or child's name, e-mail, phone or reference.

Names are compared without accents, case, hyphens or apostrophes ("Lea d'Almeida" finds
"Léa D’Almeida-Roux"), with no extension (``unaccent``) and no extra column: PostgreSQL folds
with ``translate()``; SQLite (which has no such function) gets :func:`fold` itself as an SQL
function on each connection (:func:`install_sqlite_fold`). Each word typed must match one of the
household's people, so "martin lea" finds the Martin household that has a Léa.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from flask import Flask
from sqlalchemy import ColumnElement, and_, event, func, or_, select
from sqlalchemy.orm import selectinload

from inscriptions.extensions import db
from inscriptions.models import Child, Guardian, Household, Registration

QUERY_MIN, QUERY_MAX = 2, 100
RESULTS_MAX = 30
SQLITE_FOLD = "inscriptions_fold"
# PostgreSQL's translate(): every accented letter of French in both cases, and punctuation.
_ACCENTED = "àâäáãåÀÂÄÁÃÅéèêëÉÈÊËîïíìÎÏÍÌôöóòõÔÖÓÒÕùûüúÙÛÜÚÿýŸÝçÇñÑ-'’"
_PLAIN = "aaaaaaaaaaaaeeeeeeeeiiiiiiiioooooooooouuuuuuuuyyyyccnn   "
_LIGATURES = (("œ", "oe"), ("Œ", "oe"), ("æ", "ae"), ("Æ", "ae"))
_REFERENCE = re.compile(r"^[A-Z][A-Z0-9]{0,9}-\d{4}-\d{1,8}$")


def fold(text: str | None) -> str:
    """``text`` as the search compares it: lower case, no accents, hyphens and apostrophes as spaces."""
    text = text or ""
    for ligature, plain in _LIGATURES:
        text = text.replace(ligature, plain)
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    plain = re.sub(r"[-'’]", " ", plain)
    return re.sub(r"\s+", " ", plain).strip()


def install_sqlite_fold(app: Flask) -> None:
    """Give every SQLite connection of ``app`` the SQL function ``inscriptions_fold`` (:func:`fold`)."""
    with app.app_context():
        engine = db.engine
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.create_function(SQLITE_FOLD, 1, fold, deterministic=True)


def folded(column: Any) -> ColumnElement[str]:
    """The SQL twin of :func:`fold` for a column."""
    if db.engine.dialect.name == "sqlite":
        return getattr(func, SQLITE_FOLD)(column)
    expr: Any = func.translate(func.lower(func.coalesce(column, "")), _ACCENTED, _PLAIN)
    for ligature, plain in _LIGATURES:
        expr = func.replace(expr, ligature, plain)
    return expr


def _like(word: str) -> str:
    return "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _phone_digits(query: str) -> str | None:
    """The digits of a phone number typed in any usual way, or None when it is not one."""
    if not re.fullmatch(r"[+\d\s.\-()]+", query):
        return None
    digits = re.sub(r"\D", "", query)
    if query.strip().startswith("+33") and len(digits) >= 3:
        digits = "0" + digits[2:]
    return digits if len(digits) >= 4 else None


def _name_matches(word: str) -> Any:
    """Households having a guardian or a child whose name (or a guardian's e-mail) contains ``word``."""
    pattern = _like(word)
    guardians = select(Guardian.household_id).where(or_(
        folded(Guardian.first_name).like(pattern, escape="\\"),
        folded(Guardian.last_name).like(pattern, escape="\\"),
        func.lower(func.coalesce(Guardian.email, "")).like(pattern, escape="\\"),
    ))
    children = select(Child.household_id).where(or_(
        folded(Child.first_name).like(pattern, escape="\\"),
        folded(Child.last_name).like(pattern, escape="\\"),
    ))
    return or_(Household.id.in_(guardians), Household.id.in_(children))


def search_households(query: str, limit: int = RESULTS_MAX) -> list[Household]:
    """Households matching ``query`` (see the module docstring), guardians and children loaded."""
    query = query.strip()[:QUERY_MAX]
    if len(query) < QUERY_MIN:
        return []
    conditions = []
    digits = _phone_digits(query)
    if digits is not None:
        compact = func.replace(func.replace(func.replace(func.coalesce(Guardian.phone, ""), " ", ""), ".", ""), "-", "")
        conditions.append(Household.id.in_(select(Guardian.household_id).where(compact.like(_like(digits)))))
    reference = re.sub(r"\s", "", query).upper()
    if _REFERENCE.match(reference):
        conditions.append(Household.id.in_(
            select(Registration.household_id).where(func.upper(Registration.reference) == reference)
        ))
    if "@" in query:
        conditions.append(Household.id.in_(
            select(Guardian.household_id).where(func.lower(Guardian.email).like(_like(query.lower()), escape="\\"))
        ))
    words = fold(query).split()
    if words and digits is None:
        conditions.append(and_(*(_name_matches(word) for word in words[:6])))
    if not conditions:
        return []
    return list(db.session.scalars(
        select(Household)
        .where(or_(*conditions))
        .options(selectinload(Household.guardians), selectinload(Household.children))
        .order_by(Household.id.desc())
        .limit(limit)
    ))
