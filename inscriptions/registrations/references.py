"""Human references such as ``CAN-2026-000042``: per prefix and year, gap-free under the lock."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite

from inscriptions.extensions import db
from inscriptions.models import ReferenceCounter


def next_reference(prefix: str, year: int) -> str:
    """Reserve the next number; must run inside the booking transaction."""
    session = db.session
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(
        insert(ReferenceCounter)
        .values(prefix=prefix, year=year, last=0)
        .on_conflict_do_nothing(index_elements=["prefix", "year"])
    )
    # The UPDATE takes the counter's row lock until commit, so two bookings never share a number.
    number = session.execute(
        update(ReferenceCounter)
        .where(ReferenceCounter.prefix == prefix, ReferenceCounter.year == year)
        .values(last=ReferenceCounter.last + 1)
        .returning(ReferenceCounter.last)
    ).scalar_one()
    return f"{prefix}-{year}-{number:06d}"
