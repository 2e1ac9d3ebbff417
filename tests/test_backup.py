"""``inscriptions backup check``: a real ``pg_dump --format=custom`` of the test database restored
into a scratch database and compared, table by table, with the live one (PostgreSQL), and the
clear refusal on SQLite."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from inscriptions import create_app
from inscriptions.backup import SCRATCH_PREFIX, drop_scratch_database, find_dump, libpq_connection
from inscriptions.extensions import db
from inscriptions.settings import PROJECT_ROOT, load_settings

PG_URL = os.environ.get("INSCRIPTIONS_TEST_DATABASE_URL")


def postgres_marks(test: Callable[..., None]) -> Callable[..., None]:
    """Run ``test`` only on PostgreSQL (the SQLite tests of this file run everywhere)."""
    test = pytest.mark.skipif(not PG_URL, reason="PostgreSQL only: set INSCRIPTIONS_TEST_DATABASE_URL")(test)
    return pytest.mark.postgres(test)


def pg_dump(target: Path) -> Path:
    """A custom-format dump of the test database, as the nightly cron job makes it."""
    assert PG_URL
    conninfo, env = libpq_connection(PG_URL)
    pg_dump_path = shutil.which("pg_dump")
    assert pg_dump_path, "pg_dump (PostgreSQL client) is needed for the backup tests"
    subprocess.run(  # noqa: S603 - the PostgreSQL client, fixed arguments
        [pg_dump_path, "--format=custom", f"--file={target}", f"--dbname={conninfo}"],
        env={**os.environ, **env}, check=True, capture_output=True)
    return target


def table_line(output: str, table: str) -> list[str]:
    """The cells of ``table``'s row in the report: name, dump count, live count, difference..."""
    for line in output.splitlines():
        if line.startswith(f"{table} "):
            return line.split()
    raise AssertionError(f"no row for {table} in:\n{output}")


def scratch_name(output: str) -> str:
    found = re.search(rf"scratch database ({SCRATCH_PREFIX}\w+)", output)
    assert found, output
    return found.group(1)


def database_exists(name: str) -> bool:
    assert PG_URL
    engine = create_engine(PG_URL, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first() is not None
    finally:
        engine.dispose()


@pytest.fixture
def extra_live_table(app: Flask) -> Iterator[Callable[[], None]]:
    """Create a table in the live database only (a migration run after the dump); dropped after."""

    def create() -> None:
        db.session.execute(text("CREATE TABLE backup_check_added (id integer)"))
        db.session.execute(text("INSERT INTO backup_check_added VALUES (1), (2)"))
        db.session.commit()

    yield create
    db.session.rollback()
    db.session.execute(text("DROP TABLE IF EXISTS backup_check_added"))
    db.session.commit()


# --- Without a database --------------------------------------------------------------------------


def test_libpq_connection_keeps_the_password_out_of_the_connection_string() -> None:
    conninfo, env = libpq_connection(
        "postgresql+psycopg://inscriptions:s3cr%27t%20pw@db.internal:6432/inscriptions?sslmode=require")

    assert conninfo == ("host='db.internal' port='6432' user='inscriptions' sslmode='require' "
                        "dbname='inscriptions'")
    assert env == {"PGPASSWORD": "s3cr't pw"}
    assert libpq_connection("postgresql+psycopg://u@h/live", "backup_check_x")[0].endswith("dbname='backup_check_x'")
    # A Unix socket given as a query parameter (no host in the URL) is a libpq keyword too.
    assert libpq_connection("postgresql+psycopg:///live?host=/var/run/postgresql")[0] == (
        "host='/var/run/postgresql' dbname='live'")


def test_find_dump_takes_the_newest_dump_of_a_folder(tmp_path: Path) -> None:
    older, newer, archive = tmp_path / "a-2026-09-14.dump", tmp_path / "a-2026-09-15.dump", tmp_path / "uploads.tar"
    for n, path in enumerate([newer, older, archive]):
        path.write_bytes(b"x")
        os.utime(path, (1_000_000 - n, 1_000_000 - n))
    os.utime(archive, (2_000_000, 2_000_000))

    assert find_dump(tmp_path) == newer
    assert find_dump(older) == older


def test_the_backup_folder_is_read_from_inscriptions_backup_dir(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("INSCRIPTIONS_BACKUP_DIR", raising=False)
    assert load_settings(tmp_path)["BACKUP_DIR"] is None
    monkeypatch.setenv("INSCRIPTIONS_BACKUP_DIR", "/var/backups/inscriptions")
    assert load_settings(tmp_path)["BACKUP_DIR"] == Path("/var/backups/inscriptions")


def test_on_sqlite_the_command_says_it_checks_postgresql_dumps_only(tmp_path: Path) -> None:
    app = create_app({
        "TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "PLUGINS_DIR": PROJECT_ROOT / "plugins", "UPLOAD_DIR": tmp_path / "uploads", "MAIL_BACKEND": "locmem",
    })

    result = app.test_cli_runner().invoke(args=["backup", "check", str(tmp_path)])

    assert result.exit_code == 2
    assert "only checks PostgreSQL dumps" in result.output
    assert "sqlite" in result.output


# --- On PostgreSQL -------------------------------------------------------------------------------


@postgres_marks
def test_a_fresh_dump_restores_with_the_same_counts_and_the_scratch_database_is_dropped(
        runner, make_household, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    make_household(last_name="Martin")
    make_household(last_name="Durand", children=[("Paul", dt.date(2017, 5, 2)), ("Zoé", dt.date(2019, 1, 9))])
    dump = pg_dump(tmp_path / "inscriptions-2026-09-15.dump")

    result = runner.invoke(args=["backup", "check", str(dump)])

    assert result.exit_code == 0, result.output
    assert table_line(result.output, "public.households")[1:] == ["2", "2"]
    assert table_line(result.output, "public.children")[1:] == ["3", "3"]
    assert table_line(result.output, "public.alembic_version")[1:] == ["1", "1"]
    assert "0 missing from the dump" in result.output
    assert "OK: the dump restores" in result.output
    assert not database_exists(scratch_name(result.output))


@postgres_marks
def test_rows_written_since_the_dump_are_reported_side_by_side_without_failing(
        runner, make_household, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    make_household(last_name="Martin")
    dump = pg_dump(tmp_path / "inscriptions.dump")
    make_household(last_name="Durand")
    make_household(last_name="Petit")

    result = runner.invoke(args=["backup", "check", str(dump)])

    assert result.exit_code == 0, result.output
    assert table_line(result.output, "public.households")[1:] == ["1", "3", "+2", "live"]
    assert "with other counts" in result.output


@postgres_marks
def test_a_table_of_the_live_database_missing_from_the_dump_fails_the_check(
        runner, make_household, extra_live_table, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    make_household()
    dump = pg_dump(tmp_path / "inscriptions.dump")
    extra_live_table()

    result = runner.invoke(args=["backup", "check", str(dump)])

    assert result.exit_code == 1, result.output
    assert table_line(result.output, "public.backup_check_added") == [
        "public.backup_check_added", "missing", "2", "MISSING", "FROM", "THE", "DUMP"]
    assert "FAILED: 1 table(s) of the live database missing from the dump: public.backup_check_added" in result.output
    assert not database_exists(scratch_name(result.output))


@postgres_marks
def test_a_dump_that_does_not_restore_fails_with_pg_restore_s_reason(runner, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    broken = tmp_path / "inscriptions.dump"
    broken.write_text("-- a plain SQL file is not a custom-format dump\n")

    result = runner.invoke(args=["backup", "check", str(broken)])

    assert result.exit_code == 1, result.output
    assert "pg_restore: error:" in result.output
    assert "FAILED: the restored database holds no table" in result.output
    assert not database_exists(scratch_name(result.output))


@postgres_marks
def test_without_a_path_the_newest_dump_of_the_backup_folder_is_checked(
        app, runner, make_household, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "backups"
    folder.mkdir()
    app.config["BACKUP_DIR"] = folder
    make_household()
    old = folder / "inscriptions-2026-09-14.dump"
    old.write_text("yesterday's dump, damaged")
    os.utime(old, (1_000_000, 1_000_000))
    newest = pg_dump(folder / "inscriptions-2026-09-15.dump")

    result = runner.invoke(args=["backup", "check"])

    assert result.exit_code == 0, result.output
    assert f"dump: {newest} (" in result.output
    # A nightly check also wants to hear when the dumps stopped coming.
    os.utime(newest, (1_000_000, 1_000_000))
    stale = runner.invoke(args=["backup", "check", "--max-age", "26"])
    assert stale.exit_code == 1, stale.output
    assert "more than --max-age 26 h" in stale.output


@postgres_marks
def test_no_dump_and_no_backup_folder_is_an_error(runner) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(args=["backup", "check"])

    assert result.exit_code == 1
    assert "no dump given and no backup folder configured" in result.output


@postgres_marks
def test_keep_leaves_the_scratch_database_for_inspection(runner, make_household, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    make_household()
    dump = pg_dump(tmp_path / "inscriptions.dump")

    result = runner.invoke(args=["backup", "check", "--keep", str(dump)])

    name = scratch_name(result.output)
    try:
        assert result.exit_code == 0, result.output
        assert "(kept: drop it when done)" in result.output
        assert database_exists(name)
    finally:
        assert PG_URL
        drop_scratch_database(PG_URL, name)
    assert not database_exists(name)
