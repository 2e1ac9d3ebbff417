"""The audit journal is tamper-evident (issue 17, point 5): hash chain, ``audit verify``, purge.

Tampering is done as an attacker with the database would: raw SQL past every protection (on
PostgreSQL as the superuser with the triggers off, ``session_replication_role = replica``; on
SQLite there is no trigger to pass). On PostgreSQL a role set up as docs/production.md says is
refused every such write.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Connection, create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from inscriptions.audit import Action, log_access
from inscriptions.extensions import db
from inscriptions.models import AuditCheckpoint, AuditEvent, AuditSeal
from inscriptions.models.audit import AppendOnlyError
from inscriptions.privacy.integrity import (
    GENESIS,
    Head,
    event_fields,
    grants_sql,
    seal,
    verify,
)
from inscriptions.privacy.purge import purge
from inscriptions.settings import PROJECT_ROOT

UTC = dt.UTC
PG_URL = os.environ.get("INSCRIPTIONS_TEST_DATABASE_URL")
PG = bool(PG_URL)
EVENTS = AuditEvent.__table__
SEALS = AuditSeal.__table__


def _log(count: int, **detail: Any) -> list[int]:
    ids = [log_access(None, Action.READ_HOUSEHOLD, 100 + n, {"n": n, **detail}, "Family at the counter").id
           for n in range(count)]
    db.session.commit()
    return ids


@contextlib.contextmanager
def _raw() -> Iterator[Connection]:
    """A connection past every protection: the ORM's guards, and PostgreSQL's triggers."""
    with db.engine.begin() as conn:
        if PG:
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        yield conn


def _problems(**kwargs: Any) -> set[tuple[str, int | None]]:
    return {(p.code, p.seq) for p in verify(**kwargs).problems}


def _seals() -> list[AuditSeal]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditSeal).order_by(AuditSeal.seq)))


# -- the chain --------------------------------------------------------------------------------------

def test_seal_chains_every_entry_over_every_column(app: Flask) -> None:
    ids = _log(3)
    result = seal()
    assert result.sealed == 3
    seals = _seals()
    assert [(s.seq, s.event_id) for s in seals] == [(1, ids[0]), (2, ids[1]), (3, ids[2])]
    assert seals[0].prev_hash == GENESIS
    assert [s.prev_hash for s in seals[1:]] == [s.hash for s in seals[:-1]]
    # Every column of audit_events, whatever other work adds to it (role, channel...).
    assert seals[0].fields.split(",") == sorted(c.name for c in EVENTS.columns) == event_fields()
    assert {"role", "channel", "reason", "detail", "at"} <= set(event_fields())
    # The hash is recomputable from the row alone: SHA-256 over prev hash, position, sorted JSON.
    with db.engine.connect() as conn:
        row = conn.execute(select(EVENTS).where(EVENTS.c.id == ids[0])).mappings().one()
    body = json.dumps({k: row[k] for k in event_fields()}, sort_keys=True, separators=(",", ":"),
                      default=lambda v: v.isoformat())
    assert seals[0].hash == hashlib.sha256(f"{GENESIS}\n1\n{body}".encode()).hexdigest()
    assert result.head == Head(3, seals[-1].hash)
    # Nothing twice; new entries go on from the head.
    assert seal().sealed == 0
    later = _log(1)
    assert seal().sealed == 1
    assert (_seals()[-1].seq, _seals()[-1].event_id, _seals()[-1].prev_hash) == (4, later[0], seals[-1].hash)


def test_seals_are_append_only_in_the_orm(app: Flask) -> None:
    from sqlalchemy import delete, update

    _log(1)
    seal()
    for statement in (delete(AuditSeal), update(AuditSeal).values(hash="0"),
                      delete(AuditCheckpoint), update(AuditCheckpoint).values(seq=0)):
        with pytest.raises(AppendOnlyError):
            db.session.execute(statement)
        db.session.rollback()
    db.session.delete(_seals()[0])
    with pytest.raises(AppendOnlyError):
        db.session.flush()
    db.session.rollback()


def test_verify_passes_on_a_clean_journal_and_says_what_it_checked(app: Flask, runner: Any) -> None:
    _log(4)
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "entries sealed by this run: 4" in result.output
    assert "entries checked: 4 (positions 1 to 4)" in result.output
    assert "entries not sealed yet: 0" in result.output
    assert "journal intact" in result.output and "PROBLEM" not in result.output
    head = _seals()[-1]
    assert f"head: 4:{head.hash}" in result.output
    # The head is recorded outside the database, and compared with at the next check.
    recorded = json.loads(Path(app.config["AUDIT_HEAD_FILE"]).read_text())
    assert (recorded["seq"], recorded["hash"]) == (4, head.hash)
    again = runner.invoke(args=["audit", "verify", "--head", f"4:{head.hash}"])
    assert again.exit_code == 0, again.output
    assert "compared with the head recorded" in again.output and "the command line" in again.output


def test_verify_without_sealing_reports_the_entries_not_sealed_yet(app: Flask, runner: Any) -> None:
    _log(2)
    seal()
    late = _log(1)
    result = runner.invoke(args=["audit", "verify", "--no-seal"])
    assert result.exit_code == 0, result.output
    assert f"entries not sealed yet: 1 ({late[0]})" in result.output
    assert "entries checked: 2" in result.output


def test_a_bad_head_argument_is_a_usage_error(app: Flask, runner: Any) -> None:
    result = runner.invoke(args=["audit", "verify", "--head", "twelve"])
    assert result.exit_code == 2 and "POSITION:HASH" in result.output


# -- what verify finds ------------------------------------------------------------------------------

def _changed(column: str, value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value + dt.timedelta(seconds=1)
    if isinstance(value, int) or (value is None and column.endswith("_id")):
        return (value or 0) + 1
    if isinstance(value, dict):
        return {**value, "n": -1}
    return f"{value or ''}x"


@pytest.mark.parametrize("column", [c for c in event_fields() if c != "id"])
def test_an_update_of_any_column_is_found(app: Flask, runner: Any, column: str) -> None:
    ids = _log(3)
    seal()
    with db.engine.connect() as conn:
        old = conn.execute(select(EVENTS.c[column]).where(EVENTS.c.id == ids[1])).scalar()
    with _raw() as conn:
        conn.execute(EVENTS.update().where(EVENTS.c.id == ids[1]).values({column: _changed(column, old)}))
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1, result.output
    assert f"PROBLEM: entry {ids[1]} (position 2) was changed or moved after it was sealed" in result.output
    assert "journal NOT intact: 1 problem(s)" in result.output


def test_a_deleted_entry_in_the_middle_is_found(app: Flask) -> None:
    ids = _log(3)
    seal()
    with _raw() as conn:
        conn.execute(EVENTS.delete().where(EVENTS.c.id == ids[1]))
    assert _problems() == {("deleted", 2)}


def test_an_entry_deleted_with_its_seal_is_found(app: Flask) -> None:
    ids = _log(4)
    seal()
    with _raw() as conn:
        conn.execute(EVENTS.delete().where(EVENTS.c.id.in_(ids[1:3])))
        conn.execute(SEALS.delete().where(SEALS.c.event_id.in_(ids[1:3])))
    report = verify()
    assert {(p.code, p.seq) for p in report.problems} == {("gap", 2)}
    assert "positions 2 to 3 are missing" in report.problems[0].message


def test_the_oldest_entries_deleted_outside_the_purge_are_found(app: Flask) -> None:
    ids = _log(3)
    seal()
    with _raw() as conn:
        conn.execute(EVENTS.delete().where(EVENTS.c.id == ids[0]))
        conn.execute(SEALS.delete().where(SEALS.c.event_id == ids[0]))
    assert _problems() == {("start", 2)}


def test_swapped_entries_are_found(app: Flask) -> None:
    ids = _log(3)
    seal()
    with _raw() as conn:  # the two rows trade places (their ids)
        conn.execute(EVENTS.update().where(EVENTS.c.id == ids[0]).values(id=-1))
        conn.execute(EVENTS.update().where(EVENTS.c.id == ids[1]).values(id=ids[0]))
        conn.execute(EVENTS.update().where(EVENTS.c.id == -1).values(id=ids[1]))
    assert _problems() == {("changed", 1), ("changed", 2)}


def test_swapped_seals_are_found(app: Flask) -> None:
    _log(3)
    seal()
    with _raw() as conn:  # the chain's order changed: positions 2 and 3 trade their entries
        conn.execute(SEALS.update().where(SEALS.c.seq == 2).values(seq=-2))
        conn.execute(SEALS.update().where(SEALS.c.seq == 3).values(seq=2))
        conn.execute(SEALS.update().where(SEALS.c.seq == -2).values(seq=3))
    assert ("link", 2) in _problems()


def test_a_reseal_of_a_changed_entry_breaks_the_next_link(app: Flask) -> None:
    from inscriptions.privacy.integrity import entry_hash

    ids = _log(3)
    seal()
    target = _seals()[1]
    with _raw() as conn:
        conn.execute(EVENTS.update().where(EVENTS.c.id == ids[1]).values(reason="nothing to see"))
        row = conn.execute(select(EVENTS).where(EVENTS.c.id == ids[1])).mappings().one()
        conn.execute(SEALS.update().where(SEALS.c.seq == 2).values(
            hash=entry_hash(target.prev_hash, 2, row, target.fields.split(","))))
    assert _problems() == {("link", 3)}


def _rewrite_chain_from(seq: int) -> None:
    """What an attacker who knows the algorithm does: recompute every seal from ``seq`` on."""
    from inscriptions.privacy.integrity import entry_hash

    with _raw() as conn:
        seals = conn.execute(select(SEALS).where(SEALS.c.seq >= seq - 1).order_by(SEALS.c.seq)).mappings().all()
        prev = seals[0]["hash"] if seq > 1 else GENESIS
        for s in seals if seq == 1 else seals[1:]:
            row = conn.execute(select(EVENTS).where(EVENTS.c.id == s["event_id"])).mappings().one()
            digest = entry_hash(prev, s["seq"], row, s["fields"].split(","))
            conn.execute(SEALS.update().where(SEALS.c.seq == s["seq"]).values(prev_hash=prev, hash=digest))
            prev = digest


def test_a_rewritten_chain_is_found_by_the_head_recorded_outside(app: Flask) -> None:
    ids = _log(3)
    seal()
    with _raw() as conn:
        conn.execute(EVENTS.update().where(EVENTS.c.id == ids[1]).values(reason="rewritten"))
    _rewrite_chain_from(2)
    assert _problems() == {("rewritten", 3)}


def test_deleting_the_newest_entries(app: Flask, make_app: Callable[..., Flask]) -> None:
    ids = _log(3)
    before = seal().head
    with _raw() as conn:  # the newest entry alone: its seal points at nothing
        conn.execute(EVENTS.delete().where(EVENTS.c.id == ids[2]))
    assert _problems() == {("deleted", 3)}
    with _raw() as conn:  # and its seal: the chain is shorter, still consistent in itself...
        conn.execute(SEALS.delete().where(SEALS.c.seq == 3))
    # ...but the head the seal recorded in AUDIT_HEAD_FILE went further.
    assert _problems() == {("tail", 3)}
    # Without a head recorded outside the database, that deletion does not show (the stated
    # limit), unless the head printed by an earlier check is given back.
    with make_app(AUDIT_HEAD_FILE=None).app_context():
        report = verify()
        assert report.ok
        assert any("no head recorded outside the database" in line for line in report.lines())
        assert {(p.code, p.seq) for p in verify(expected_heads=[before]).problems} == {("tail", 3)}


def test_the_recorded_head_is_kept_when_the_chain_no_longer_holds_it(app: Flask) -> None:
    ids = _log(2)
    seal()
    with _raw() as conn:
        conn.execute(EVENTS.delete().where(EVENTS.c.id == ids[1]))
        conn.execute(SEALS.delete().where(SEALS.c.seq == 2))
    _log(3)  # new entries take positions 2, 3, 4: the recorded position 2 now has another hash
    assert ("rewritten", 2) in _problems()
    assert json.loads(Path(app.config["AUDIT_HEAD_FILE"]).read_text())["seq"] == 2


# -- the retention purge ----------------------------------------------------------------------------

def test_purge_keeps_the_chain_verifiable_and_records_who_and_what(
        app: Flask, frozen_clock: Callable[[dt.datetime], None], runner: Any) -> None:
    # In the past, so that the purge's date is not ahead of the database's clock.
    frozen_clock(dt.datetime(2020, 1, 10, 8, 0, tzinfo=UTC))
    old = _log(3)
    frozen_clock(dt.datetime(2020, 9, 10, 8, 0, tzinfo=UTC))
    kept = _log(2)
    frozen_clock(dt.datetime(2020, 12, 1, 8, 0, tzinfo=UTC))
    app.config["AUDIT_RETENTION_MONTHS"] = 6
    report = purge()
    assert report.audit_events_deleted == 3
    assert not db.session.scalars(select(AuditEvent).where(AuditEvent.id.in_(old))).all()
    checkpoint = db.session.scalars(select(AuditCheckpoint)).one()
    assert (checkpoint.seq, checkpoint.deleted, checkpoint.retention_months) == (3, 3, 6)
    assert checkpoint.cutoff == dt.datetime(2020, 6, 1, 8, 0)
    assert checkpoint.db_user == ("postgres" if PG else "sqlite")
    seals = _seals()
    assert seals[0].event_id == kept[0] and seals[0].prev_hash == checkpoint.hash
    # The run's own event is chained, and says the retention used and who ran it.
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == Action.PURGE)).one()
    assert seals[-1].event_id == event.id
    assert event.detail["audit_retention_months"] == 6 and event.detail["audit_chain_anchor"] == 3
    assert event.detail["db_user"] == checkpoint.db_user and "os_user" in event.detail
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "the chain starts after the retention purge of 2020-12-01 08:00 UTC" in result.output
    assert "entries checked: 3 (positions 4 to 6)" in result.output
    # A second purge with nothing to remove records no checkpoint; the chain still checks.
    assert purge().audit_events_deleted == 0
    assert db.session.scalar(select(func.count()).select_from(AuditCheckpoint)) == 1
    assert verify().ok
    # Deleting the first kept entry with its seal is not a purge.
    with _raw() as conn:
        conn.execute(EVENTS.delete().where(EVENTS.c.id == kept[0]))
        conn.execute(SEALS.delete().where(SEALS.c.event_id == kept[0]))
    assert _problems() == {("start", 5)}


def test_purge_dry_run_removes_nothing(app: Flask, frozen_clock: Callable[[dt.datetime], None]) -> None:
    frozen_clock(dt.datetime(2020, 1, 10, 8, 0, tzinfo=UTC))
    _log(2)
    frozen_clock(dt.datetime(2021, 6, 1, 8, 0, tzinfo=UTC))
    assert purge(dry_run=True).audit_events_deleted == 2
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == 2
    assert db.session.scalar(select(func.count()).select_from(AuditCheckpoint)) == 0
    assert verify().ok


def test_a_purge_dated_ahead_of_the_database_clock_is_reported(
        app: Flask, frozen_clock: Callable[[dt.datetime], None]) -> None:
    _log(2)
    # Only a superuser (PostgreSQL) or the application on SQLite can date a purge in the future.
    frozen_clock(dt.datetime.now(UTC) + dt.timedelta(days=800))
    assert purge().audit_events_deleted == 2
    assert "future_purge" in {code for code, _seq in _problems()}


def test_the_retention_is_at_least_six_months(app: Flask) -> None:
    app.config["AUDIT_RETENTION_MONTHS"] = 3
    with pytest.raises(ValueError, match="AUDIT_RETENTION_MONTHS must be at least 6"):
        purge()
    from inscriptions.privacy.settings import DEFAULTS

    assert 6 <= DEFAULTS["AUDIT_RETENTION_MONTHS"] <= 12  # CNIL: 6 months to 1 year


def test_the_privacy_notice_states_the_journal_retention_and_its_protection(app: Flask, client: Any) -> None:
    page = client.get("/donnees-personnelles").get_data(as_text=True)
    assert 'id="retention-audit" data-months="12"' in page
    assert "12 mois" in page and "de 6 mois à 1 an" in page and "CNIL" in page


# -- several processes logging at once --------------------------------------------------------------

def test_concurrent_logging_makes_one_linear_chain(app: Flask) -> None:
    writers, per_writer = 4, 15
    errors: list[BaseException] = []
    done = threading.Event()
    late_id: list[int] = []
    logged = threading.Event()
    release = threading.Event()

    def writer(k: int) -> None:
        with app.app_context():
            try:
                for i in range(per_writer):
                    log_access(None, Action.SEARCH, None, {"writer": k, "i": i})
                    db.session.commit()
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)
            finally:
                db.session.remove()

    def sealer() -> None:
        with app.app_context():
            try:
                while not done.is_set():
                    seal(batch=7)
                    time.sleep(0.002)
            except BaseException as exc:  # pragma: no cover
                errors.append(exc)
            finally:
                db.session.remove()

    def long_transaction() -> None:
        # An entry logged early in a transaction that commits after the others (PostgreSQL: a
        # booking holding its locks); on SQLite it would hold the only write lock, so it is
        # not run there.
        with app.app_context():
            try:
                late_id.append(log_access(None, Action.REGISTER, 1, {"late": True}).id)
                logged.set()
                release.wait(30)
                db.session.commit()
            except BaseException as exc:  # pragma: no cover
                errors.append(exc)
            finally:
                db.session.remove()

    late = threading.Thread(target=long_transaction) if PG else None
    if late is not None:
        late.start()
        assert logged.wait(10)
    threads = [threading.Thread(target=writer, args=(k,)) for k in range(writers)]
    sealing = threading.Thread(target=sealer)
    for t in [*threads, sealing]:
        t.start()
    for t in threads:
        t.join(60)
    seal()  # everything committed so far, before the late entry commits
    release.set()
    if late is not None:
        late.join(30)
    done.set()
    sealing.join(60)
    assert not errors, errors
    report = verify()
    assert report.ok, report.lines()
    total = writers * per_writer + (1 if late is not None else 0)
    seals = _seals()
    assert [s.seq for s in seals] == list(range(1, total + 1))
    assert len({s.event_id for s in seals}) == total == db.session.scalar(select(func.count()).select_from(AuditEvent))
    if late is not None:
        # Chained in the order of the seals: the late entry (lowest id) comes last.
        assert late_id[0] == min(s.event_id for s in seals) and seals[-1].event_id == late_id[0]


def test_the_allocation_worker_seals(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    from inscriptions.allocation import worker

    _log(2)
    rounds: list[int] = []
    monkeypatch.setattr(worker, "services_waiting", lambda: rounds.append(1) or [])
    worker.work(interval=0, stop=lambda: len(rounds) >= 1)
    assert [s.seq for s in _seals()] == [1, 2]


# -- the database roles (PostgreSQL) ----------------------------------------------------------------

def test_the_documented_grants_are_the_commands(app: Flask, runner: Any) -> None:
    result = runner.invoke(args=["audit", "grants", "--app-role", "inscriptions_app"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == grants_sql("inscriptions_app")
    docs = (PROJECT_ROOT / "docs" / "production.md").read_text(encoding="utf-8")
    for statement in grants_sql("inscriptions_app"):
        assert statement in docs, statement
    assert runner.invoke(args=["audit", "grants", "--app-role", "x; DROP TABLE y"]).exit_code == 2


@pytest.mark.skipif(not PG, reason="database roles and grants are PostgreSQL's")
def test_the_application_role_may_only_insert_into_the_journal(
        app: Flask, make_app: Callable[..., Flask], frozen_clock: Callable[[dt.datetime], None]) -> None:
    assert PG_URL is not None
    role = f"{make_url(PG_URL).database}_journal_app"

    def drop_role(conn: Connection) -> None:
        if conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first():
            conn.execute(text(f"DROP OWNED BY {role}"))
            conn.execute(text(f"DROP ROLE {role}"))

    frozen_clock(dt.datetime(2020, 1, 10, 8, 0, tzinfo=UTC))
    _log(2)
    with db.engine.begin() as conn:
        drop_role(conn)
        conn.execute(text(f"CREATE ROLE {role} LOGIN"))
        for statement in grants_sql(role):
            conn.execute(text(statement))
    restricted = make_url(PG_URL).set(username=role).render_as_string(hide_password=False)
    engine = create_engine(restricted)
    try:
        with engine.begin() as conn:
            assert conn.execute(text("SELECT current_user")).scalar() == role
            conn.execute(text("INSERT INTO audit_events (at, action, detail, reason) "
                              "VALUES (now(), 'read_household', '{}', '')"))
        refused = [
            "UPDATE audit_events SET reason = 'x'",
            "DELETE FROM audit_events",
            "TRUNCATE audit_events",
            "ALTER TABLE audit_events DISABLE TRIGGER ALL",
            "UPDATE audit_seals SET hash = 'x'",
            "DELETE FROM audit_seals",
            "TRUNCATE audit_seals",
            "INSERT INTO audit_checkpoints (seq, hash, deleted, cutoff, as_of, db_clock, retention_months, db_user)"
            " VALUES (1, 'x', 0, now(), now(), now(), 12, 'me')",
            "DELETE FROM audit_checkpoints",
            "SET LOCAL session_replication_role = replica",
            "UPDATE alembic_version SET version_num = 'x'",
        ]
        for statement in refused:
            with pytest.raises(DBAPIError, match=r"permission denied|must be owner"), engine.begin() as conn:
                conn.execute(text(statement))
        # The old way: a transaction-local setting that any session can set.
        with pytest.raises(DBAPIError, match="permission denied"), engine.begin() as conn:
            conn.execute(text("SET LOCAL inscriptions.audit_purge = 'on'"))
            conn.execute(text("DELETE FROM audit_events"))
        # The purge function: no less than 6 months, no date ahead of the database's clock.
        for as_of, months, message in ((dt.datetime(2021, 1, 1), 3, "at least 6 months"),
                                       (dt.datetime.now() + dt.timedelta(days=30), 12, "ahead of the database clock")):
            with pytest.raises(DBAPIError, match=message), engine.begin() as conn:
                conn.execute(text("SELECT * FROM audit_purge(:a, :m, NULL)"), {"a": as_of, "m": months})
    finally:
        engine.dispose()

    # The application itself, connected as that role: logs, seals, purges, verifies.
    application = make_app(SQLALCHEMY_DATABASE_URI=restricted)
    try:
        with application.app_context():
            assert db.session.scalar(text("SELECT current_user")) == role
            _log(1)
            assert seal().sealed == 4  # the two logged as postgres, the raw insert, this one
            frozen_clock(dt.datetime(2020, 12, 1, 8, 0, tzinfo=UTC))
            application.config["AUDIT_RETENTION_MONTHS"] = 6
            assert purge().audit_events_deleted == 2
            checkpoint = db.session.scalars(select(AuditCheckpoint)).one()
            assert checkpoint.db_user == role
            report = verify()
            assert report.ok, report.lines()
            db.session.remove()
            db.engine.dispose()
    finally:
        with app.app_context(), db.engine.begin() as conn:
            drop_role(conn)
