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


def test_registrations_made_before_applications_become_decided_applications(app: Any) -> None:
    """The applications revision turns each booking (a batch of registrations) into one decided
    application with one wish per session, and links the registrations to it."""
    from sqlalchemy import text

    db.session.remove()
    downgrade(directory=MIGRATIONS, revision="9c2e4b6d8f10")
    with db.engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO households (id, address_line1, address_line2, postcode, city, created_at, updated_at)"
            " VALUES (1, '1 rue', '', '99990', 'Villebelle', '2026-09-01', '2026-09-01')"))
        conn.execute(text(
            "INSERT INTO children (id, household_id, first_name, last_name, birth_date, school, class_name)"
            " VALUES (1, 1, 'Léa', 'Martin', '2018-03-01', '', ''), (2, 1, 'Hugo', 'Martin', '2018-03-01', '', '')"))
        conn.execute(text(
            "INSERT INTO form_versions (id, service_code, version, content_hash, definition, created_at)"
            " VALUES (1, 'stage', 1, 'h', '{}', '2026-09-01')"))
        conn.execute(text(
            "INSERT INTO service_sessions (id, service_code, code, label, starts_at, capacity, form_version_id)"
            " VALUES (1, 'stage', 's1', 'Semaine 1', '2027-02-15', 10, 1)"))
        for reg_id, child, batch in ((1, 1, "b1"), (2, 2, "b1"), (3, 1, "b2")):
            conn.execute(text(
                "INSERT INTO registrations (id, reference, service_code, form_version_id, household_id, child_id,"
                " session_id, places, answers, price, price_unit, price_detail, channel, mediation_reason, batch,"
                " status, created_at, updated_at) VALUES (:id, :ref, 'stage', 1, 1, :child, :session, 1, '{}',"
                " 10, '', '[]', 'web', '', :batch, 'accepted', '2026-09-02', '2026-09-02')"),
                {"id": reg_id, "ref": f"STG-2026-{reg_id:06d}", "child": child, "batch": batch,
                 "session": 1 if batch == "b1" else None})
    upgrade(directory=MIGRATIONS)
    with db.engine.connect() as conn:
        apps = conn.execute(text(
            "SELECT batch, status, queue_number, wishes, participants, channel FROM applications ORDER BY id")).all()
        links = conn.execute(text("SELECT id, application_id FROM registrations ORDER BY id")).all()
    import json

    def loads(value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value

    assert [(a.batch, a.status, a.queue_number, loads(a.wishes), a.channel) for a in apps] == [
        ("b1", "decided", 1, [["s1"]], "web"), ("b2", "decided", 2, [], "web")]
    assert [p["child_id"] for p in loads(apps[0].participants)] == [1, 2]
    assert [link.application_id for link in links] == [1, 1, 2]
