"""The Alembic revisions build exactly the schema the models describe."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade

from inscriptions.extensions import db
from inscriptions.settings import PROJECT_ROOT

MIGRATIONS = str(PROJECT_ROOT / "migrations")


def _differences() -> list[Any]:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        return compare_metadata(context, db.metadata)


def _current_revision() -> str | None:
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def test_migrated_database_matches_the_models(app: Any) -> None:
    assert _differences() == []


def test_database_is_at_the_single_head(app: Any) -> None:
    heads = ScriptDirectory.from_config(app.extensions["migrate"].migrate.get_config(MIGRATIONS)).get_heads()
    assert len(heads) == 1, f"several Alembic heads, merge them: {heads}"
    assert _current_revision() == heads[0]


def test_downgrade_to_base_and_upgrade_again(app: Any) -> None:
    db.session.remove()
    downgrade(directory=MIGRATIONS, revision="base")
    assert _current_revision() is None
    upgrade(directory=MIGRATIONS)
    assert _differences() == []
