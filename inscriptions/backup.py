"""``inscriptions backup check``: prove that the latest database dump restores.

A dump nobody has restored is a hope, not a backup. The check restores a ``pg_dump
--format=custom`` file into a scratch PostgreSQL database on the live server (created, then
dropped), counts the rows of every table there and in the live database, and reports the
differences. It fails when the restore fails, holds no table, or lacks a table of the live
schema; rows that differ are only reported, since the live database keeps changing after the
dump was taken. The backup procedure itself is in docs/production.md, "Backups".

Nothing here needs Flask: the command passes the application's database URL in.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.pool import NullPool

# Scratch databases are named after this prefix, so a database left behind (``--keep``, a
# killed check) is recognisable as safe to drop.
SCRATCH_PREFIX = "backup_check_"
# The folder form of a dump (``pg_dump --format=directory``) is recognised by this file.
DIRECTORY_DUMP_MARKER = "toc.dat"
# How many lines of pg_restore's complaints are worth printing; the rest repeat the same cause.
MAX_RESTORE_ERRORS = 20


class BackupError(Exception):
    """The check could not run (no dump, no pg_restore, a database refused): a one-line reason."""


@dataclass(frozen=True)
class TableCount:
    """Rows of one table (``schema.table``) in the restored dump and in the live database.

    ``None`` means the table does not exist on that side.
    """

    name: str
    dump: int | None
    live: int | None

    @property
    def missing_from_dump(self) -> bool:
        return self.dump is None and self.live is not None

    @property
    def only_in_dump(self) -> bool:
        return self.live is None and self.dump is not None

    @property
    def differs(self) -> bool:
        return self.dump is not None and self.live is not None and self.dump != self.live


@dataclass
class CheckReport:
    """What a check found; :meth:`lines` says it, :attr:`ok` decides the exit status."""

    dump: Path
    dump_age_hours: float
    dump_bytes: int
    scratch_database: str
    kept: bool
    restore_seconds: float
    tables: list[TableCount] = field(default_factory=list)
    restore_errors: list[str] = field(default_factory=list)
    dump_revision: str | None = None
    live_revision: str | None = None
    max_age_hours: float | None = None

    @property
    def restored_tables(self) -> int:
        return sum(1 for t in self.tables if t.dump is not None)

    @property
    def missing(self) -> list[TableCount]:
        return [t for t in self.tables if t.missing_from_dump]

    @property
    def too_old(self) -> bool:
        return self.max_age_hours is not None and self.dump_age_hours > self.max_age_hours

    @property
    def ok(self) -> bool:
        return not (self.restore_errors or self.missing or self.restored_tables == 0 or self.too_old)

    def problems(self) -> list[str]:
        """Why the check failed, one sentence each (empty when it passed)."""
        found: list[str] = []
        if self.restore_errors:
            found.append("pg_restore reported errors (above)")
        if self.restored_tables == 0:
            found.append("the restored database holds no table")
        elif self.missing:
            names = [t.name for t in self.missing]
            more = f" and {len(names) - 10} more" if len(names) > 10 else ""
            found.append(f"{len(names)} table(s) of the live database missing from the dump: "
                         f"{', '.join(names[:10])}{more}")
        if self.too_old:
            found.append(f"the dump is {self.dump_age_hours:.1f} h old, more than --max-age "
                         f"{self.max_age_hours:g} h: is the nightly dump still running?")
        return found

    def lines(self) -> list[str]:
        """The report as printed by the command: the dump, a table of counts, the verdict."""
        kept = " (kept: drop it when done)" if self.kept else " (dropped)"
        out = [
            f"dump: {self.dump} ({_size(self.dump_bytes)}, {self.dump_age_hours:.1f} h old)",
            f"restored into scratch database {self.scratch_database} in {self.restore_seconds:.1f} s{kept}",
        ]
        if self.dump_revision != self.live_revision:
            out.append(f"migration: dump at {self.dump_revision or 'none'}, live database at "
                       f"{self.live_revision or 'none'} (a migration since the dump explains tables added or dropped)")
        else:
            out.append(f"migration: {self.live_revision or 'none'} in both")
        for error in self.restore_errors:
            out.append(f"pg_restore: {error}")
        out.append("")
        width = max([len("table"), *(len(t.name) for t in self.tables)])
        out.append(f"{'table':<{width}}  {'dump':>10}  {'live':>10}  difference")
        for table in self.tables:
            out.append(f"{table.name:<{width}}  {_count(table.dump):>10}  {_count(table.live):>10}  "
                       f"{_difference(table)}".rstrip())
        out.append("")
        differing = sum(1 for t in self.tables if t.differs)
        equal = sum(1 for t in self.tables if t.dump is not None and t.dump == t.live)
        extra = sum(1 for t in self.tables if t.only_in_dump)
        summary = (f"{len(self.tables)} table(s): {equal} equal, {differing} with other counts "
                   f"(rows written or deleted since the dump), {len(self.missing)} missing from the dump")
        if extra:
            summary += f", {extra} only in the dump"
        out.append(summary)
        problems = self.problems()
        if problems:
            out.extend(f"FAILED: {problem}" for problem in problems)
        else:
            out.append("OK: the dump restores and holds every table of the live database.")
        return out


def _count(value: int | None) -> str:
    return "missing" if value is None else str(value)


def _difference(table: TableCount) -> str:
    if table.missing_from_dump:
        return "MISSING FROM THE DUMP"
    if table.only_in_dump:
        return "only in the dump"
    if table.differs:
        assert table.live is not None and table.dump is not None
        return f"{table.live - table.dump:+d} live"
    return ""


def _size(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB" if size >= 1024 * 1024 else f"{size / 1024:.1f} kB"


def is_postgresql(url: str | URL) -> bool:
    """Whether the SQLAlchemy URL points at PostgreSQL (whatever the driver)."""
    return make_url(url).get_backend_name() == "postgresql"


def is_dump(path: Path) -> bool:
    """A dump file, or a ``pg_dump --format=directory`` folder."""
    return path.is_file() or (path.is_dir() and (path / DIRECTORY_DUMP_MARKER).is_file())


def _modified(path: Path) -> float:
    return (path / DIRECTORY_DUMP_MARKER if path.is_dir() else path).stat().st_mtime


def _bytes(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.iterdir() if p.is_file())
    return path.stat().st_size


def find_dump(path: Path | str | None) -> Path:
    """The dump to check: ``path`` itself, or the newest ``*.dump`` in the folder ``path``.

    Only ``*.dump`` entries count, so the uploads' archives or checksums kept in the same
    folder are never mistaken for the database's dump.
    """
    if path is None or str(path) == "":
        raise BackupError("no dump given and no backup folder configured (set INSCRIPTIONS_BACKUP_DIR "
                          "or pass the dump's path)")
    path = Path(path)
    if not path.exists():
        raise BackupError(f"{path} does not exist")
    if path.is_dir() and not is_dump(path):
        dumps = [p for p in path.glob("*.dump") if is_dump(p)]
        if not dumps:
            raise BackupError(f"no *.dump file in {path}")
        return max(dumps, key=_modified)
    return path


def libpq_connection(url: str | URL, database: str | None = None) -> tuple[str, dict[str, str]]:
    """A libpq connection string for pg_dump/pg_restore/psql from a SQLAlchemy URL, and the
    environment variables to add.

    The password goes in ``PGPASSWORD``, not in the connection string, so it never shows in
    the process list. Query parameters (``sslmode``, ``host`` for a Unix socket...) are libpq
    keywords already: psycopg passes them through, so they are kept.
    """
    parsed = make_url(url)
    keywords: dict[str, str] = {}
    if parsed.host:
        keywords["host"] = parsed.host
    if parsed.port:
        keywords["port"] = str(parsed.port)
    if parsed.username:
        keywords["user"] = parsed.username
    for key, value in parsed.query.items():
        keywords[key] = value if isinstance(value, str) else value[-1]
    keywords["dbname"] = database or parsed.database or ""
    env = {"PGPASSWORD": parsed.password} if parsed.password else {}
    return " ".join(f"{key}={_conninfo_value(value)}" for key, value in keywords.items()), env


def _conninfo_value(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} not found: install the PostgreSQL client (apt install postgresql-client)")
    return found


def _engine(url: str | URL, database: str | None = None) -> Engine:
    parsed = make_url(url)
    if database is not None:
        parsed = parsed.set(database=database)
    # One short-lived connection per use: nothing to pool, nothing left open on the server.
    return create_engine(parsed, poolclass=NullPool)


def _quote(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote_identifier(name)


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def table_counts(engine: Engine) -> dict[str, int]:
    """Exact row counts of every user table (``schema.table``), read in one snapshot.

    Partitions are left out: their parent's count already includes their rows.
    """
    with engine.connect() as conn:
        # One snapshot for every count, so the figures belong to the same moment.
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        names = conn.execute(text(
            "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition "
            "AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%' "
            "ORDER BY n.nspname, c.relname"
        )).all()
        counts = {}
        for schema, table in names:
            query = f"SELECT count(*) FROM {_quote(conn, schema)}.{_quote(conn, table)}"  # noqa: S608 - quoted catalog names
            counts[f"{schema}.{table}"] = int(conn.execute(text(query)).scalar_one())
        return counts


def migration_revision(engine: Engine) -> str | None:
    """The Alembic revision recorded in the database (None without the table)."""
    with engine.connect() as conn:
        if conn.execute(text("SELECT to_regclass('public.alembic_version')")).scalar() is None:
            return None
        revisions = conn.execute(text("SELECT version_num FROM public.alembic_version")).scalars().all()
        return ",".join(sorted(revisions)) or None


def create_scratch_database(url: str | URL) -> str:
    """Create an empty database beside the live one, with the live one's encoding and locale,
    and return its name. The live role needs ``CREATEDB``."""
    name = f"{SCRATCH_PREFIX}{time.strftime('%Y%m%d_%H%M%S')}_{secrets.token_hex(3)}"
    engine = _engine(url)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            encoding, collate, ctype = conn.execute(text(
                "SELECT pg_encoding_to_char(encoding), datcollate, datctype FROM pg_database "
                "WHERE datname = current_database()"
            )).one()
            # template0: template1 may carry objects of its own that would clash with the dump's.
            # Same collation as live, so unique indexes on text accept the same rows.
            statement = (f"CREATE DATABASE {_quote(conn, name)} TEMPLATE template0 ENCODING {_literal(encoding)} "
                         f"LC_COLLATE {_literal(collate)} LC_CTYPE {_literal(ctype)}")
            conn.execute(text(statement))
    except Exception as exc:
        reason = _first_line(exc)
        if "permission denied" in reason:
            reason += " (the role needs CREATEDB, see docs/production.md, \"Backups\")"
        raise BackupError(f"could not create the scratch database {name}: {reason}") from exc
    finally:
        engine.dispose()
    return name


def drop_scratch_database(url: str | URL, name: str) -> None:
    """Drop a scratch database, closing any connection still open to it."""
    if not name.startswith(SCRATCH_PREFIX):
        raise ValueError(f"refusing to drop {name!r}: not a scratch database")
    engine = _engine(url)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            statement = f"DROP DATABASE IF EXISTS {_quote(conn, name)} WITH (FORCE)"  # a quoted identifier
            conn.execute(text(statement))
    finally:
        engine.dispose()


def _first_line(exc: BaseException) -> str:
    return (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [type(exc).__name__])[0]


def restore(url: str | URL, dump: Path, database: str, jobs: int = 1) -> list[str]:
    """Restore ``dump`` into ``database`` with pg_restore; return its error lines (empty: clean).

    Owners, privileges, tablespaces, publications and subscriptions are left out: the scratch
    database belongs to the checking role, and a restored subscription would start pulling
    from the live publisher.
    """
    conninfo, env = libpq_connection(url, database)
    command = [
        _tool("pg_restore"), "--no-owner", "--no-privileges", "--no-tablespaces",
        "--no-publications", "--no-subscriptions", "--no-security-labels",
        f"--jobs={max(1, jobs)}", f"--dbname={conninfo}", str(dump),
    ]
    done = subprocess.run(  # noqa: S603 - fixed arguments, no shell
        command, env={**os.environ, **env}, capture_output=True, text=True, check=False)
    if done.returncode == 0:
        return []
    errors = [line.removeprefix("pg_restore: ") for line in done.stderr.splitlines() if line.strip()]
    errors = errors or [f"pg_restore exited with status {done.returncode}"]
    if len(errors) > MAX_RESTORE_ERRORS:
        errors = [*errors[:MAX_RESTORE_ERRORS], f"... and {len(errors) - MAX_RESTORE_ERRORS} more line(s)"]
    return errors


def compare(dump_counts: dict[str, int], live_counts: dict[str, int]) -> list[TableCount]:
    """Side-by-side counts of every table found on either side, by name."""
    names: Iterable[str] = sorted(set(dump_counts) | set(live_counts))
    return [TableCount(name, dump_counts.get(name), live_counts.get(name)) for name in names]


def check_backup(url: str | URL, dump: Path, *, keep: bool = False, jobs: int = 1,
                 max_age_hours: float | None = None) -> CheckReport:
    """Restore ``dump`` into a scratch database beside the live database at ``url`` and
    compare both, table by table. The scratch database is dropped unless ``keep``."""
    if not is_postgresql(url):
        raise BackupError("backup check restores PostgreSQL dumps only")
    if not is_dump(dump):
        raise BackupError(f"{dump} is not a dump file")
    _tool("pg_restore")  # before creating anything: a missing tool leaves no database behind
    # Wall-clock time, not inscriptions.clock: the file's date is the machine's real time.
    age_hours = max(0.0, (time.time() - _modified(dump)) / 3600)
    scratch = create_scratch_database(url)
    try:
        started = time.monotonic()
        errors = restore(url, dump, scratch, jobs=jobs)
        restore_seconds = time.monotonic() - started
        scratch_engine = _engine(url, scratch)
        live_engine = _engine(url)
        try:
            dump_counts = table_counts(scratch_engine)
            live_counts = table_counts(live_engine)
            dump_revision = migration_revision(scratch_engine)
            live_revision = migration_revision(live_engine)
        finally:
            scratch_engine.dispose()
            live_engine.dispose()
    finally:
        if not keep:
            drop_scratch_database(url, scratch)
    return CheckReport(
        dump=dump, dump_age_hours=age_hours, dump_bytes=_bytes(dump), scratch_database=scratch, kept=keep,
        restore_seconds=restore_seconds, tables=compare(dump_counts, live_counts), restore_errors=errors,
        dump_revision=dump_revision, live_revision=live_revision, max_age_hours=max_age_hours,
    )
