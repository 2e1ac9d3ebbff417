"""Human references such as ``CAN-2026-000042``: per prefix and year, gap-free under the lock."""

from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite

from inscriptions.extensions import db
from inscriptions.models import ReferenceCounter


def next_reference(prefix: str, year: int) -> str:
    """Reserve the next number; must run inside the booking transaction."""
    session = db.session
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # One statement (one round trip while the booking holds its locks): the first booking of the
    # year creates the counter at 1, the next ones increment it. Either way the statement takes
    # the counter's row lock until commit, so two bookings never share a number.
    stmt = insert(ReferenceCounter).values(prefix=prefix, year=year, last=1)
    number = session.execute(
        stmt.on_conflict_do_update(
            index_elements=["prefix", "year"], set_={"last": ReferenceCounter.last + 1}
        ).returning(ReferenceCounter.last)
    ).scalar_one()
    return f"{prefix}-{year}-{number:06d}"
