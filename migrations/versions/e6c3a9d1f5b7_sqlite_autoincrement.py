"""ids never reused: SQLite AUTOINCREMENT

Revision ID: e6c3a9d1f5b7
Revises: d5b2f8c0e4a6
Create Date: 2026-12-07 21:30:00.000000

Without AUTOINCREMENT SQLite gives a new row ``max(id) + 1``: once the household with the highest
id was deleted, the next family to sign up got its id, and the audit journal's lines about the
deleted family (which keeps ids, not foreign keys) became the new family's. Every table with a
single integer primary key is rebuilt with AUTOINCREMENT (the models ask for it on every table,
inscriptions/extensions.py), and each one's counter starts past every id the journal still names.

PostgreSQL: nothing to do, its sequences never hand out an id twice.

On SQLite the rebuild copies each table into a new one (Alembic's batch mode), with:
- foreign keys off, in an autocommit block (the pragma is a no-op inside a transaction): dropping
  a parent table with them on deletes its rows first, and ON DELETE CASCADE with them;
- every trigger and view of the schema dropped before and created again after, whatever
  migration made them: SQLite drops a table's triggers with it, and refuses to rename a table
  while a trigger or view names a table that is missing for a moment.
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'e6c3a9d1f5b7'
down_revision = 'd5b2f8c0e4a6'
branch_labels = None
depends_on = None

SCHEMA_OBJECTS = ("SELECT type, name, sql FROM sqlite_master WHERE type IN ('trigger', 'view') AND sql IS NOT NULL"
                  " ORDER BY CASE type WHEN 'view' THEN 0 ELSE 1 END, rowid")
TABLES = ("SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
          " AND name <> 'alembic_version' ORDER BY name")
SEQUENCE = "SELECT seq FROM sqlite_sequence WHERE name = :name"
SET_SEQUENCE = "UPDATE sqlite_sequence SET seq = :seq WHERE name = :name"
ADD_SEQUENCE = "INSERT INTO sqlite_sequence (name, seq) VALUES (:name, :seq)"
FOREIGN_KEY_CHECK = "PRAGMA foreign_key_check"
# Ids the audit journal keeps after their rows are gone (it holds ids, not foreign keys): a new
# row must not take one of them. (table given the id, journal table, its column, the largest)
JOURNAL_REFERENCES = (
    ("households", "audit_events", "household_id", "SELECT MAX(household_id) FROM audit_events"),
    ("households", "audit_event_households", "household_id",
     "SELECT MAX(household_id) FROM audit_event_households"),
    ("registrations", "audit_events", "registration_id", "SELECT MAX(registration_id) FROM audit_events"),
    ("accounts", "audit_events", "actor_account_id", "SELECT MAX(actor_account_id) FROM audit_events"),
)


def _quoted(name):
    return '"' + name.replace('"', '""') + '"'


def _integer_key_tables(bind):
    """Tables whose primary key is one INTEGER column (SQLite's rowid), without AUTOINCREMENT yet."""
    inspector = sa.inspect(bind)
    found = []
    for name, sql in bind.execute(sa.text(TABLES)).all():
        if "AUTOINCREMENT" in (sql or "").upper():
            continue
        key = inspector.get_pk_constraint(name)["constrained_columns"]
        columns = {c["name"]: c for c in inspector.get_columns(name)}
        if len(key) == 1 and isinstance(columns[key[0]]["type"], sa.INTEGER):
            found.append(name)
    return found


def _foreign_keys(on):
    with op.get_context().autocommit_block():
        op.execute("PRAGMA foreign_keys=ON" if on else "PRAGMA foreign_keys=OFF")


def _rebuild(bind, tables, autoincrement):
    objects = bind.execute(sa.text(SCHEMA_OBJECTS)).all()
    _foreign_keys(False)
    try:
        for kind, name, _sql in reversed(objects):
            op.execute(f"DROP {kind.upper()} {_quoted(name)}")
        for table in tables:
            with op.batch_alter_table(table, recreate="always",
                                      table_kwargs={"sqlite_autoincrement": autoincrement}):
                pass
        for _kind, _name, sql in objects:
            op.execute(sql)
        broken = bind.execute(sa.text(FOREIGN_KEY_CHECK)).all()
        if broken:
            raise RuntimeError(f"foreign keys broken by the rebuild: {broken[:10]}")
    except BaseException:
        # Undo the half-done rebuild here: the autocommit block below would commit it. The
        # connection goes back to the pool with its foreign keys on, as the app opened it.
        raw = bind.connection.dbapi_connection
        raw.rollback()
        raw.execute("PRAGMA foreign_keys=ON")
        raise
    _foreign_keys(True)


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name != 'sqlite':
        return
    _rebuild(bind, _integer_key_tables(bind), True)
    # The copy set each counter to the table's largest id; the journal may name larger ones.
    inspector = sa.inspect(bind)
    tables = set(inspector.get_table_names())
    for table, journal, column, largest in JOURNAL_REFERENCES:
        if table not in tables or journal not in tables:
            continue
        if column not in {c["name"] for c in inspector.get_columns(journal)}:
            continue
        named = bind.execute(sa.text(largest)).scalar() or 0
        current = bind.execute(sa.text(SEQUENCE), {"name": table}).scalar()
        if current is None:
            bind.execute(sa.text(ADD_SEQUENCE), {"name": table, "seq": named})
        elif named > current:
            bind.execute(sa.text(SET_SEQUENCE), {"name": table, "seq": named})


def downgrade():
    bind = op.get_bind()
    if bind.dialect.name != 'sqlite':
        return
    tables = [name for name, sql in bind.execute(sa.text(TABLES)).all()
              if "AUTOINCREMENT" in (sql or "").upper()]
    _rebuild(bind, tables, False)
