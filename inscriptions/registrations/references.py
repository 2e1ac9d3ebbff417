"""Human references such as ``CAN-2026-000042``: per prefix and year, gap-free under the lock."""

from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite

from inscriptions.extensions import db
from inscriptions.models import ReferenceCounter


def reserve_references(prefix: str, year: int, count: int) -> list[str]:
    """Reserve ``count`` consecutive references; must run inside the writing transaction."""
    session = db.session
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # One statement (one round trip while the caller holds its locks), whatever ``count``: the
    # first use of the year creates the counter, the next ones add to it. Either way the statement
    # takes the counter's row lock until commit, so two writers never share a number.
    stmt = insert(ReferenceCounter).values(prefix=prefix, year=year, last=count)
    last = session.execute(
        stmt.on_conflict_do_update(
            index_elements=["prefix", "year"], set_={"last": ReferenceCounter.last + count}
        ).returning(ReferenceCounter.last)
    ).scalar_one()
    return [f"{prefix}-{year}-{number:06d}" for number in range(last - count + 1, last + 1)]


def next_reference(prefix: str, year: int) -> str:
    """Reserve the next number; must run inside the writing transaction."""
    return reserve_references(prefix, year, 1)[0]
