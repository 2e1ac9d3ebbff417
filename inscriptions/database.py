"""Engine set-up and the short write transaction every booking runs in."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

from inscriptions.extensions import db

IMMEDIATE = "inscriptions_immediate"
# Every PostgreSQL connection waits at most this long (ms) for a lock, so a booking queued behind
# others gets "busy, try again" rather than hanging; a write transaction asking for another
# bound sets its own (SET LOCAL). Set when connecting, it costs no statement per booking.
DEFAULT_LOCK_TIMEOUT_MS = 5000
# How long (ms) an immediate transaction waits for SQLite's write lock before "database is locked".
LOCK_TIMEOUT = "inscriptions_lock_timeout_ms"


class BusyError(Exception):
    """The booking could not get its locks in time: the user is asked to try again."""


def configure_engine(app: Flask) -> None:
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    elif engine.dialect.name == "postgresql":
        _configure_postgresql(engine)


def _configure_postgresql(engine: Engine) -> None:
    @event.listens_for(engine, "do_connect")
    def _connect(_dialect, _record, _cargs, cparams):  # type: ignore[no-untyped-def]
        # libpq's "options": server settings of the new session, sent with the connection.
        extra = f"-c lock_timeout={DEFAULT_LOCK_TIMEOUT_MS}"
        cparams["options"] = f"{cparams['options']} {extra}" if cparams.get("options") else extra


def _configure_sqlite(engine: Engine) -> None:
    # pysqlite's own transaction handling defers BEGIN and cannot take a write lock up front;
    # SQLAlchemy's documented recipe takes over BEGIN so bookings can start with BEGIN IMMEDIATE.
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn):  # type: ignore[no-untyped-def]
        options = conn.get_execution_options()
        if options.get("isolation_level") == "AUTOCOMMIT":
            # No transaction asked for (an Alembic autocommit block): a PRAGMA such as
            # foreign_keys, a no-op inside a transaction, must reach the database.
            return
        if options.get(IMMEDIATE):
            # Set on every write transaction: the pooled connection keeps the last value.
            conn.exec_driver_sql(f"PRAGMA busy_timeout={int(options.get(LOCK_TIMEOUT, 5000))}")
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


def commit_keeping_loaded() -> None:
    """Commit the request's session without expiring the objects it loaded.

    A plain commit expires every loaded object, so reading any attribute afterwards (the current
    user's, say) costs a query each: for a commit made halfway through a request, of rows this
    request itself holds or does not need fresh, that is only cost.
    """
    session = db.session()
    expire, session.expire_on_commit = session.expire_on_commit, False
    try:
        session.commit()
    finally:
        session.expire_on_commit = expire


@contextmanager
def write_transaction(lock_timeout_ms: int = DEFAULT_LOCK_TIMEOUT_MS) -> Iterator[None]:
    """One short transaction for a booking: commits on success, rolls back on any error.

    On SQLite it is a write (``BEGIN IMMEDIATE``) transaction, so concurrent bookings queue
    instead of reading stale counts; on PostgreSQL callers lock rows with ``FOR UPDATE``. On both,
    waiting longer than ``lock_timeout_ms`` for a lock raises :class:`BusyError`. Nothing slow
    (e-mail, PDF) may run inside: callers schedule that after the commit.
    """
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    session = db.session()  # the scoped session's current Session (the proxy lacks in_transaction)
    # Reads made earlier in the request (current user...) end here so the lock is taken fresh.
    # What the booking decides on is re-read under its lock (FOR UPDATE with
    # populate_existing), so nothing stale reaches the decision.
    if session.in_transaction():
        commit_keeping_loaded()
    try:
        # Inside the try: on SQLite, BEGIN IMMEDIATE is where a booking waits for the write lock.
        session.connection(execution_options={IMMEDIATE: True, LOCK_TIMEOUT: int(lock_timeout_ms)})
        if db.engine.dialect.name == "postgresql" and int(lock_timeout_ms) != DEFAULT_LOCK_TIMEOUT_MS:
            from sqlalchemy import text

            session.execute(text(f"SET LOCAL lock_timeout = '{int(lock_timeout_ms)}ms'"))
        yield
        session.commit()
    except PoolTimeout as exc:
        # Every pooled connection in use for too long: as busy as a lock wait, and as harmless.
        session.rollback()
        raise BusyError() from exc
    except OperationalError as exc:
        session.rollback()
        message = str(exc.orig)
        if "lock" in message or "database is locked" in message:
            raise BusyError() from exc
        raise
    except BaseException:
        session.rollback()
        raise
