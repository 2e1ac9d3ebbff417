"""Ids are never handed out twice, on SQLite as on PostgreSQL (issue 17, point 3).

SQLite without ``AUTOINCREMENT`` gives a new row ``max(id) + 1``: the next family to sign up got a
deleted family's household id, and the audit journal's lines about the deleted family (it keeps
ids, not foreign keys) showed up in the new family's data export. Every table of the models asks
for ``AUTOINCREMENT`` (inscriptions/extensions.py), migration e6c3a9d1f5b7 rebuilt the existing
SQLite tables with it, and PostgreSQL's sequences never go back.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from flask import Flask
from flask_migrate import downgrade, upgrade
from privacy_helpers import account_of, upload_for
from sqlalchemy import Integer, Table, delete, inspect, select, text
from sqlalchemy.exc import DBAPIError

from inscriptions.audit import Action, events_of_household, log_access
from inscriptions.extensions import db
from inscriptions.models import AuditEvent, Household, Registration
from inscriptions.privacy.anonymise import delete_account
from inscriptions.privacy.purge import purge
from inscriptions.settings import PROJECT_ROOT

UTC = dt.UTC
PG = bool(os.environ.get("INSCRIPTIONS_TEST_DATABASE_URL"))
MIGRATIONS = str(PROJECT_ROOT / "migrations")
AUTOINCREMENT_REVISION = "e6c3a9d1f5b7"
# Past the "old" session's retention (12 months after 2026-10-02): registrations are anonymised.
PAST_RETENTION = dt.datetime(2027, 11, 5, 9, 0, tzinfo=UTC)
# Accounts created 2026-09-15 and never used: warned (730 - 30 days), then deleted 30 days later.
WARNED = dt.datetime(2028, 8, 20, 8, 0, tzinfo=UTC)
DELETED = dt.datetime(2028, 9, 20, 8, 0, tzinfo=UTC)
REGISTERING = dt.datetime(2026, 9, 20, 8, 0, tzinfo=UTC)
# Read straight from the database file: which tables SQLite created with AUTOINCREMENT.
SQLITE_TABLES = "SELECT name, sql FROM sqlite_master WHERE type = 'table'"
# Indexes, triggers and views: the rebuild must give every one back as it was.
SQLITE_SCHEMA_OBJECTS = ("SELECT type, name, tbl_name, sql FROM sqlite_master"
                         " WHERE type IN ('index', 'trigger', 'view') ORDER BY type, name")
PG_SEQUENCE = "SELECT pg_get_serial_sequence(:table, :column)"
# A trigger and a view made by some earlier migration: the rebuild must keep them working.
GUARD_TRIGGER = ("CREATE TRIGGER test_keep_city BEFORE DELETE ON households WHEN OLD.city = 'Intouchable'"
                 " BEGIN SELECT RAISE(ABORT, 'this household is kept'); END")
DELETE_HOUSEHOLD = "DELETE FROM households WHERE id = :id"
FAMILY_VIEW = ("CREATE VIEW test_family_names AS SELECT h.id AS household_id, g.last_name FROM households h"
               " JOIN guardians g ON g.household_id = h.id")


def _keyed_tables() -> list[Table]:
    """Every model table whose primary key is one integer column the database hands out."""
    found = []
    for table in db.metadata.sorted_tables:
        key = list(table.primary_key.columns)
        if (len(key) == 1 and isinstance(key[0].type, Integer) and key[0].autoincrement is not False
                and not key[0].foreign_keys):
            found.append(table)
    return found


def _ids() -> dict[str, set[int]]:
    db.session.expire_all()
    found = {}
    for table in _keyed_tables():
        key = next(iter(table.primary_key.columns))
        found[table.name] = set(db.session.scalars(select(key)))
    return found


def _all_rows() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (alembic's own aside), in primary-key order."""
    inspector = inspect(db.engine)
    rows = {}
    with db.engine.connect() as conn:
        for name in inspector.get_table_names():
            if name in ("alembic_version", "sqlite_sequence"):
                continue
            table = Table(name, db.MetaData(), autoload_with=conn)
            order = list(table.primary_key.columns) or list(table.columns)
            rows[name] = [tuple(r) for r in conn.execute(select(table).order_by(*order))]
    return rows


def test_every_table_with_an_integer_key_never_reuses_ids(app: Flask) -> None:
    """The models ask for AUTOINCREMENT on every table (a new model gets it without asking), and the
    migrated database has it: a later migration that creates a table without it fails here."""
    tables = _keyed_tables()
    assert len(tables) >= 25 and "households" in {t.name for t in tables}
    assert [t.name for t in tables if not t.dialect_options["sqlite"]["autoincrement"]] == []
    with db.engine.connect() as conn:
        if PG:
            plain = [t.name for t in tables
                     if conn.execute(text(PG_SEQUENCE), {"table": t.name,
                                                         "column": next(iter(t.primary_key.columns)).name}
                                     ).scalar() is None]
        else:
            created = dict(conn.execute(text(SQLITE_TABLES)).all())
            plain = [t.name for t in tables if "AUTOINCREMENT" not in created.get(t.name, "").upper()]
    assert plain == [], f"tables whose ids the database may hand out again: {plain}"


def test_ids_are_new_after_account_deletion_and_purge(app: Flask, make_household, book, frozen_clock) -> None:
    first = make_household(last_name="Alpha", children=[("Léa", dt.date(2018, 3, 1)), ("Tom", dt.date(2019, 5, 2))])
    second = make_household(last_name="Beta")
    upload_for(second)
    book(first, session="old")
    book(second, session="old")
    book(second, session="later", answers={"level": "b"})
    first_id, second_id = first.id, second.id
    built = _ids()

    # The family with the highest ids deletes its account (the family's own path)...
    frozen_clock(PAST_RETENTION)
    delete_account(account_of(second), by="family", actor_id=None)
    # ... the other one is anonymised, then deleted, by the purge.
    assert purge().registrations_anonymised >= 1
    frozen_clock(WARNED)
    assert purge().accounts_warned == 1
    frozen_clock(DELETED)
    assert purge().accounts_deleted == 1
    db.session.expire_all()
    assert db.session.get(Household, first_id) is None and db.session.get(Household, second_id) is None
    # Ids the journal still names once their rows are gone (the leak this guards against).
    journal_named = set(db.session.scalars(select(AuditEvent.household_id).where(AuditEvent.household_id.is_not(None))))
    assert second_id in journal_named

    used = _ids()
    # Every id handed out so far, deleted rows included (ids only grow: the largest seen).
    highest = {name: max(used[name] | built[name], default=0) for name in used}
    assert highest["households"] == second_id and not used["households"]

    # Back to when the service takes registrations (ids do not follow the clock).
    frozen_clock(REGISTERING)
    newcomer = make_household(last_name="Gamma", children=[("Inès", dt.date(2018, 9, 30))])
    other = make_household(last_name="Delta")
    upload_for(newcomer)
    book(newcomer, session="later", answers={"level": "a"})
    book(other, session="later", answers={"level": "b"})
    log_access(None, Action.READ_HOUSEHOLD, newcomer.id)
    db.session.commit()

    now = _ids()
    fresh = {name: ids - used[name] for name, ids in now.items()}
    for name in ("households", "guardians", "children", "accounts", "registrations", "status_changes",
                 "applications", "uploads", "audit_events"):
        assert fresh[name], f"the test made no new {name} row"
    assert min(fresh["households"]) > second_id
    reused = {name: sorted(ids) for name, ids in fresh.items() if ids and min(ids) <= highest[name]}
    assert reused == {}, f"ids handed out again: {reused}"
    # The newcomers' access history (what their data export lists) starts with them: nothing
    # about the deleted families.
    for home in (newcomer, other):
        assert home.id not in journal_named
        assert {e.id for e in events_of_household(home.id)} <= fresh["audit_events"]
    assert [e.action for e in events_of_household(newcomer.id)][-1] == Action.READ_HOUSEHOLD


def test_the_migration_keeps_every_row_and_ids_stay_new(app: Flask, make_household, book, staff) -> None:
    """A database at the revision before: rows in every kind of table, a trigger, a view, and a
    household deleted that the journal still names. Upgraded: every row, index, trigger and view is
    as it was, no ON DELETE CASCADE fired, and new rows get ids never used before."""
    script = ScriptDirectory.from_config(app.extensions["migrate"].migrate.get_config(MIGRATIONS))
    previous = script.get_revision(AUTOINCREMENT_REVISION).down_revision
    # Rows made through the application (at the head: the models follow it), then the database
    # taken back to the revision before (this one's downgrade included).
    kept = make_household(last_name="Alpha")
    kept_id = kept.id
    make_household(last_name="Beta", children=[("Tom", dt.date(2019, 5, 2)), ("Zoé", dt.date(2017, 1, 2))])
    book(kept, session="old")
    staff("agent", "atelier")
    gone_id = make_household(last_name="Omega").id
    log_access(None, Action.READ_HOUSEHOLD, gone_id)
    db.session.commit()
    db.session.remove()
    downgrade(directory=MIGRATIONS, revision=previous)
    with db.engine.begin() as conn:
        if not PG:
            created = dict(conn.execute(text(SQLITE_TABLES)).all())
            assert "AUTOINCREMENT" not in created["households"].upper()
            conn.execute(text(GUARD_TRIGGER))
            conn.execute(text(FAMILY_VIEW))
            objects = conn.execute(text(SQLITE_SCHEMA_OBJECTS)).all()
        # The family with the highest id is deleted before the upgrade; the journal names it.
        conn.execute(text(DELETE_HOUSEHOLD), {"id": gone_id})
    rows = _all_rows()
    assert gone_id not in {r[0] for r in rows["households"]}
    assert rows["guardians"] and rows["children"] and rows["staff_roles"] and rows["status_changes"]

    upgrade(directory=MIGRATIONS, revision=AUTOINCREMENT_REVISION)

    assert _all_rows() == rows
    if not PG:
        with db.engine.begin() as conn:
            created = dict(conn.execute(text(SQLITE_TABLES)).all())
            assert "AUTOINCREMENT" in created["households"].upper()
            assert conn.execute(text(SQLITE_SCHEMA_OBJECTS)).all() == objects
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
            # The trigger still guards, the view still reads.
            conn.execute(text("UPDATE households SET city = 'Intouchable' WHERE id = :id"), {"id": kept_id})
        with pytest.raises(DBAPIError, match="this household is kept"), db.engine.begin() as conn:
            conn.execute(text(DELETE_HOUSEHOLD), {"id": kept_id})
        with db.engine.begin() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM test_family_names")).scalar() == 2
            # Not the application's: later revisions must not trip over them.
            conn.execute(text("DROP TRIGGER test_keep_city"))
            conn.execute(text("DROP VIEW test_family_names"))
    upgrade(directory=MIGRATIONS)

    # The household with the highest id goes; the next one is new, and so is every other row.
    highest = max(r[0] for r in rows["households"])
    db.session.execute(delete(Household).where(Household.id == highest))
    db.session.commit()
    newcomer = make_household(last_name="Gamma")
    assert newcomer.id > max(highest, gone_id)
    assert newcomer.guardians[0].id > max(r[0] for r in rows["guardians"])
    book(newcomer, session="later", answers={"level": "a"})
    registration = db.session.scalar(select(Registration).where(Registration.household_id == newcomer.id))
    assert registration.id > max(r[0] for r in rows["registrations"])
