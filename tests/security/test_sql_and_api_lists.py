"""Every SQL statement is parameterised; the API's registration list and household read."""

from __future__ import annotations

import ast
from pathlib import Path

from flask import Flask
from sqlalchemy import select
from test_authorisation import World

from inscriptions.extensions import db
from inscriptions.models import AuditEvent
from inscriptions.settings import PROJECT_ROOT

RAW_SQL_CALLS = {"text", "exec_driver_sql", "execute", "literal_column"}


def _safe(value: ast.expr) -> bool:
    if isinstance(value, ast.Call) and getattr(value.func, "id", "") == "int":
        return True
    return isinstance(value, ast.Name) and value.id.isupper()


def _raw_sql_with_interpolation(tree: ast.AST) -> list[int]:
    """Lines where SQL is built from an f-string or ``%``/``+``/``.format`` with a value that is not
    an ``int(...)`` or an UPPER_CASE constant (safe inside a statement: a number such as a timeout,
    a setting name written in the code; never a value that came with a request)."""
    bad = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if name not in RAW_SQL_CALLS:
            continue
        if name == "text" and isinstance(node.func, ast.Attribute) and getattr(node.func.value, "id", "") not in (
                "sa", "sqlalchemy"):
            continue  # a drawing method (canvas.text), not sqlalchemy.text
        arg = node.args[0]
        if isinstance(arg, ast.JoinedStr):
            for part in arg.values:
                if isinstance(part, ast.FormattedValue) and not _safe(part.value):
                    bad.append(node.lineno)
        elif isinstance(arg, ast.BinOp) or (isinstance(arg, ast.Call) and getattr(arg.func, "attr", "") == "format"):
            bad.append(node.lineno)
    return bad


def test_no_sql_is_built_from_strings() -> None:
    found = {}
    for path in sorted((PROJECT_ROOT / "inscriptions").rglob("*.py")):
        lines = _raw_sql_with_interpolation(ast.parse(path.read_text(encoding="utf-8")))
        if lines:
            found[str(path.relative_to(PROJECT_ROOT))] = lines
    assert not found, f"SQL built by string formatting (use bound parameters): {found}"


def test_the_check_catches_an_interpolated_statement() -> None:
    assert _raw_sql_with_interpolation(ast.parse('text(f"SELECT * FROM t WHERE a = \'{name}\'")')) == [1]
    assert _raw_sql_with_interpolation(ast.parse('conn.exec_driver_sql("SELECT " + name)')) == [1]
    assert _raw_sql_with_interpolation(ast.parse('text(f"SET lock_timeout = {int(ms)}")')) == []
    assert _raw_sql_with_interpolation(ast.parse('text(f"SET LOCAL {SETTING} = 1")')) == []
    assert _raw_sql_with_interpolation(ast.parse('text(f"SET LOCAL {setting} = 1")')) == [1]
    assert not Path(__file__).name.startswith("x")


def _get(app: Flask, world: World, role: str, url: str):  # type: ignore[no-untyped-def]
    return app.test_client().get(url, headers={"Authorization": f"Bearer {world.api_tokens[role]}"})


def test_parents_list_only_their_household(world_app: tuple[Flask, World]) -> None:
    app, world = world_app
    own = _get(app, world, "parent_b", "/api/v1/registrations").get_json()
    assert [r["reference"] for r in own["items"]] == [world.reference_b]
    assert own["next_offset"] is None
    assert _get(app, world, "parent_b", "/api/v1/registrations?service=cinema").get_json()["items"] == []


def test_staff_list_their_services_with_pages(world_app: tuple[Flask, World]) -> None:
    app, world = world_app
    first = _get(app, world, "agent_x", "/api/v1/registrations?service=cantine&limit=1").get_json()
    assert len(first["items"]) == 1 and first["next_offset"] == 1
    second = _get(app, world, "agent_x", "/api/v1/registrations?service=cantine&limit=1&offset=1").get_json()
    assert {first["items"][0]["reference"], second["items"][0]["reference"]} == {world.reference_a, world.reference_b}
    assert second["next_offset"] is None
    # The pool's agent reads nothing of the canteen.
    assert _get(app, world, "agent_y", "/api/v1/registrations?service=cantine").status_code == 403
    assert _get(app, world, "agent_y", "/api/v1/registrations").get_json()["items"] == []
    assert _get(app, world, "dpo", "/api/v1/registrations").status_code == 403
    assert _get(app, world, "agent_x", "/api/v1/registrations?limit=0").status_code == 422
    assert _get(app, world, "agent_x", "/api/v1/registrations?service=nope").status_code == 404


def test_staff_read_a_household_and_the_read_is_audited(world_app: tuple[Flask, World]) -> None:
    app, world = world_app
    response = _get(app, world, "agent_y", f"/api/v1/households/{world.household_b}")
    assert response.status_code == 200
    body = response.get_json()
    assert body["id"] == world.household_b and body["children"][0]["id"] == world.child_b
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.household_id == world.household_b,
                                                           AuditEvent.action == "read_household"))
        assert event is not None and event.actor_account_id == world.accounts["agent_y"]
    assert _get(app, world, "parent_a", f"/api/v1/households/{world.household_b}").status_code == 403
    assert _get(app, world, "admin", "/api/v1/households/99999999999999").status_code == 404
    assert _get(app, world, "admin", "/api/v1/households/abc").status_code == 404
