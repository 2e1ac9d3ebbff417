"""Fixtures of the security tests: the world of test_authorisation.py, built once on SQLite."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from test_authorisation import PG_URL, World, build_world

from inscriptions import clock
from inscriptions.extensions import db


def _write_upload(app: Flask, world: World) -> None:
    folder = Path(app.config["UPLOAD_DIR"]) / str(world.household_b)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / world.upload_b).write_bytes(b"%PDF-1.4\n")


# CSRF is checked by test_csrf.py; here a POST must reach the view to test its access rule.
CONFIG = {"WTF_CSRF_ENABLED": False, "RATE_LIMITS_ENABLED": False}


@pytest.fixture(scope="session")
def world_template(migrated_db: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, World] | None:
    """On SQLite, the world is built once into a database file that each test copies."""
    if PG_URL:
        return None
    from inscriptions import create_app
    from inscriptions.settings import PROJECT_ROOT

    tmp = tmp_path_factory.mktemp("world")
    target = tmp / "world.sqlite3"
    shutil.copy(migrated_db, target)
    # As tests/conftest.py's base_config and frozen clock (this fixture outlives one test).
    clock.freeze(dt.datetime(2026, 9, 15, 8, 0, tzinfo=dt.UTC))
    try:
        app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{target}",
                          "PLUGINS_DIR": PROJECT_ROOT / "plugins", "UPLOAD_DIR": tmp / "uploads",
                          "MAIL_BACKEND": "locmem", "JOBS_EAGER_RAISE": True, "SERVER_NAME": "localhost",
                          **CONFIG})
        world = build_world(app)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    finally:
        clock.freeze(None)
    return target, world


@pytest.fixture
def world_app(make_app: Callable[..., Flask], world_template: tuple[Path, World] | None,
              tmp_path: Path) -> Iterator[tuple[Flask, World]]:
    if world_template is None:
        app = make_app(**CONFIG)
        world = build_world(app)
    else:
        path, world = world_template
        copy = tmp_path / "world.sqlite3"
        shutil.copy(path, copy)
        app = make_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{copy}", **CONFIG)
    _write_upload(app, world)
    yield app, world


