"""The audit journal is tamper-evident: a hash chain over its entries, sealed after the fact.

Each audit event gets a seal (:class:`~inscriptions.models.AuditSeal`): its position ``seq`` in
the chain, the previous seal's hash, and ``sha256(prev_hash + seq + canonical(event))``, where
``canonical`` is a sorted JSON serialisation of *every* column of ``audit_events`` (read from the
model's table, so a column added later is hashed in the seals made after it; each seal lists the
columns it covers). Editing an entry, deleting one, moving one (changing its id or its moment)
breaks the chain at that place; :func:`verify` (``inscriptions audit verify``) walks it and says
where.

**Why seal after the fact, rather than chain each entry as it is inserted.** Entries are logged
inside the application's transactions, some of them busy ones: a counter agent's registration
logs its access while it holds the sessions' capacity locks. Chaining on insert means reading the
previous entry's hash under a global lock held until that transaction commits, which would
serialise every logging transaction of the town behind the slowest one (and take that lock after
the capacity locks in one transaction, before them in another: deadlocks). Instead
:func:`log_access <inscriptions.audit.log_access>` only inserts, as before, and :func:`seal`
chains the committed entries not yet sealed, in id order, in a short transaction of its own under
one lock (PostgreSQL: an advisory lock; SQLite: its write lock). The chain's order is the seal's
order: an entry whose transaction commits late is chained after entries with higher ids, and the
chain stays linear however many processes log at once. The seal runs in the allocation worker
(every minute, ``inscriptions.allocation.worker.SEAL_EVERY_S``), before and after each retention
purge, and at the start of every ``inscriptions audit verify`` (``inscriptions audit seal`` does
only that, e.g. from cron when no worker runs).

Until it is sealed an entry is protected by the database's grants alone (PostgreSQL: the
application's role may only insert into the journal; docs/production.md), and :func:`verify`
reports how many entries were not sealed yet. The seals are a separate table so that sealing is an
insert too: the application's role never needs UPDATE on the journal.

**The oldest entries** go with the retention purge (:func:`purge_journal`): it removes a prefix of
the chain only, and records a checkpoint (:class:`~inscriptions.models.AuditCheckpoint`), the
position and hash of the last entry removed, from which the kept chain must go on, with the
database role that ran it, the staff account and the retention used. On PostgreSQL this is the
``audit_purge()`` function (migration d5b2f8c0e4a6), the only way to delete from the journal.

**The newest entries.** Deleting the last entries together with their seals leaves a shorter
chain that is still consistent. Each seal therefore records the chain's head (position and hash)
outside the database, in ``AUDIT_HEAD_FILE`` (and in the process's log); :func:`verify` compares
the database with it, and with a head given on its command line (``--head``, e.g. the one printed
by the previous verify and kept by the DPO). What this does not catch, by design: an entry deleted
before it was ever sealed (the grants are what stop it), and the rewriting of the whole chain by
someone who can also rewrite the recorded head.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import hashlib
import json
import logging
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import Connection, delete, exists, func, insert, select, text
from sqlalchemy.orm import Session

from inscriptions.clock import utcnow_naive
from inscriptions.database import IMMEDIATE
from inscriptions.digits import is_digits
from inscriptions.extensions import db
from inscriptions.models import AuditCheckpoint, AuditEvent, AuditSeal
from inscriptions.models.audit import retention_purge
from inscriptions.privacy.settings import add_months

log = logging.getLogger(__name__)

GENESIS = "0" * 64
# pg_advisory_xact_lock key of the chain (blake2b-8 of "inscriptions.audit:chain", like the
# allocator's keys); the database function audit_purge() takes the same one, written out.
CHAIN_LOCK_KEY = 9053587250002542981
# Entries chained per transaction: the lock is held for one batch at a time.
SEAL_BATCH = 1000
# CNIL's lower bound for access logs; the database function refuses less.
MIN_RETENTION_MONTHS = 6
# A purge dated further ahead of the database's clock than this deleted entries before their time.
CLOCK_SLACK = dt.timedelta(days=1)
HEAD_FILE_SETTING = "AUDIT_HEAD_FILE"

LOCK_POSTGRESQL = text("SELECT pg_advisory_xact_lock(:key)")
PURGE_POSTGRESQL = text("SELECT purged, anchor_seq, anchor_hash FROM audit_purge(:as_of, :months, :actor)")
DB_USER_POSTGRESQL = text("SELECT session_user")
PURGE_SIGNATURE = "audit_purge(timestamp, integer, integer)"
ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

_events = AuditEvent.__table__
_seals = AuditSeal.__table__
_checkpoints = AuditCheckpoint.__table__


# -- the hash ---------------------------------------------------------------------------------------

def event_fields() -> list[str]:
    """The columns of ``audit_events`` a new seal covers: all of them, sorted."""
    return sorted(column.name for column in _events.columns)


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"cannot serialise {type(value).__name__} in an audit entry")


def canonical(row: Mapping[str, Any], fields: Sequence[str]) -> bytes:
    """The entry's ``fields`` as sorted, compact JSON (ASCII): what its seal hashes.

    Raises KeyError when a field is missing from ``row`` (a column dropped since the seal).
    """
    return json.dumps({name: row[name] for name in fields}, sort_keys=True, separators=(",", ":"),
                      default=_json_default).encode("ascii")


def entry_hash(prev_hash: str, seq: int, row: Mapping[str, Any], fields: Sequence[str]) -> str:
    """SHA-256 (hex) of the previous hash, the position and the entry's canonical serialisation."""
    digest = hashlib.sha256()
    digest.update(f"{prev_hash}\n{seq}\n".encode("ascii"))
    digest.update(canonical(row, fields))
    return digest.hexdigest()


# -- sealing ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Head:
    """The chain's last link: its position and hash (position 0 and :data:`GENESIS`: empty)."""

    seq: int
    hash: str

    def text(self) -> str:
        return f"{self.seq}:{self.hash}"

    @classmethod
    def parse(cls, value: str) -> Head:
        """``SEQ:HASH`` as printed by :func:`verify`."""
        seq, sep, digest = value.strip().partition(":")
        if not sep or not is_digits(seq) or not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise ValueError(f"{value!r} is not a chain head (POSITION:HASH, as `audit verify` prints it)")
        return cls(int(seq), digest)


@dataclass(frozen=True)
class SealResult:
    """What one :func:`seal` did."""

    sealed: int
    head: Head


def _is_postgresql() -> bool:
    return db.engine.dialect.name == "postgresql"


@contextlib.contextmanager
def _chain_transaction() -> Iterator[Connection]:
    """A transaction of its own holding the chain's lock (never inside a caller's transaction)."""
    with db.engine.connect() as conn:
        if not _is_postgresql():
            conn.execution_options(**{IMMEDIATE: True})  # BEGIN IMMEDIATE: SQLite's write lock
        with conn.begin():
            if _is_postgresql():
                conn.execute(LOCK_POSTGRESQL, {"key": CHAIN_LOCK_KEY})
            yield conn


def _latest_checkpoint(conn: Connection | Session) -> Mapping[str, Any] | None:
    row = conn.execute(select(_checkpoints).order_by(_checkpoints.c.id.desc()).limit(1)).mappings().first()
    return dict(row) if row is not None else None


def _head(conn: Connection) -> Head:
    row = conn.execute(select(_seals.c.seq, _seals.c.hash).order_by(_seals.c.seq.desc()).limit(1)).first()
    if row is not None:
        return Head(row.seq, row.hash)
    checkpoint = _latest_checkpoint(conn)
    if checkpoint is not None:
        return Head(checkpoint["seq"], checkpoint["hash"])
    return Head(0, GENESIS)


def _unsealed(limit: int | None = None) -> Any:
    query = (select(_events).where(~exists().where(_seals.c.event_id == _events.c.id))
             .order_by(_events.c.id))
    return query.limit(limit) if limit is not None else query


def seal(*, batch: int = SEAL_BATCH) -> SealResult:
    """Chain every committed entry not sealed yet, in id order; returns how many and the new head.

    Runs in transactions of its own (one per ``batch``): call it with no write transaction open
    in the current session (on SQLite it would wait for that transaction's lock).
    """
    total = 0
    while True:
        with _chain_transaction() as conn:
            head = _head(conn)
            rows = conn.execute(_unsealed(batch)).mappings().all()
            if rows:
                fields = event_fields()
                names = ",".join(fields)
                sealed_at = utcnow_naive()
                seq, prev = head.seq, head.hash
                values = []
                for row in rows:
                    seq += 1
                    digest = entry_hash(prev, seq, row, fields)
                    values.append({"seq": seq, "event_id": row["id"], "prev_hash": prev, "hash": digest,
                                   "fields": names, "sealed_at": sealed_at})
                    prev = digest
                conn.execute(insert(_seals), values)
                head = Head(seq, prev)
                total += len(rows)
                _record_head(conn, head)
        if len(rows) < batch:
            return SealResult(total, head)


# -- the head recorded outside the database ---------------------------------------------------------

def _database_name() -> str:
    return db.engine.url.render_as_string(hide_password=True)


def head_file() -> Path | None:
    """Where the seals record the chain's head (``AUDIT_HEAD_FILE``; None: not recorded)."""
    configured = current_app.config.get(HEAD_FILE_SETTING)
    return Path(configured) if configured else None


@dataclass(frozen=True)
class RecordedHead:
    """A head recorded earlier, and where it comes from (the head file, the command line)."""

    head: Head
    source: str
    recorded_at: str = ""


def recorded_head() -> RecordedHead | None:
    """The head in ``AUDIT_HEAD_FILE``, if it was written for this database."""
    path = head_file()
    if path is None or not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("database") != _database_name():
            return None
        return RecordedHead(Head(int(data["seq"]), str(data["hash"])), str(path), str(data.get("recorded_at", "")))
    except (ValueError, KeyError, TypeError) as exc:
        log.error("the journal's recorded head %s cannot be read: %s", path, exc)
        return None


def _seal_hash(conn: Connection | Session, seq: int) -> str | None:
    return conn.execute(select(_seals.c.hash).where(_seals.c.seq == seq)).scalar()


def _record_head(conn: Connection, head: Head) -> None:
    # Called under the chain's lock, before the commit: a head recorded and then rolled back would
    # only be a head the chain reaches again later (a shorter one is never written).
    log.info("audit journal sealed up to position %d, hash %s", head.seq, head.hash)
    path = head_file()
    if path is None:
        return
    previous = recorded_head()
    if previous is not None:
        if previous.head.seq >= head.seq:
            return
        checkpoint = _latest_checkpoint(conn)
        purged = checkpoint is not None and previous.head.seq <= checkpoint["seq"]
        if not purged and _seal_hash(conn, previous.head.seq) != previous.head.hash:
            # The recorded head is no longer in the chain: keep it, it is the evidence.
            log.error("the journal no longer holds the head recorded in %s (position %d): "
                      "run `inscriptions audit verify`", path, previous.head.seq)
            return
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps({"database": _database_name(), "seq": head.seq, "hash": head.hash,
                                     "recorded_at": utcnow_naive().isoformat(timespec="seconds")}),
                         encoding="utf-8")
    os.replace(temporary, path)


# -- the retention purge ----------------------------------------------------------------------------

@dataclass(frozen=True)
class JournalPurge:
    """What :func:`purge_journal` removed, and where the kept chain now starts."""

    deleted: int
    cutoff: dt.datetime
    anchor: Head | None


def purge_journal(as_of: dt.datetime, retention_months: int, actor_id: int | None) -> JournalPurge:
    """Delete the journal's entries older than ``retention_months`` before ``as_of``, in the
    current session's transaction (committed or rolled back by the caller).

    Only sealed entries go, as a prefix of the chain: up to the first sealed entry not yet past
    retention (seal first). The last removed seal becomes the chain's checkpoint, recorded in the
    same transaction. On PostgreSQL this is the database function ``audit_purge()``.
    """
    if retention_months < MIN_RETENTION_MONTHS:
        raise ValueError(f"the audit journal is kept at least {MIN_RETENTION_MONTHS} months")
    cutoff = add_months(as_of, -retention_months)
    session = db.session()
    if _is_postgresql():
        row = session.execute(PURGE_POSTGRESQL, {"as_of": as_of, "months": retention_months,
                                                 "actor": actor_id}).one()
        anchor = Head(row.anchor_seq, row.anchor_hash) if row.anchor_seq is not None else None
        return JournalPurge(int(row.purged or 0), cutoff, anchor)

    kept_from = session.scalar(select(func.min(AuditSeal.seq)).join(AuditEvent, AuditEvent.id == AuditSeal.event_id)
                               .where(AuditEvent.at >= cutoff))
    if kept_from is None:
        kept_from = int(session.scalar(select(func.coalesce(func.max(AuditSeal.seq), 0))) or 0) + 1
    last = session.execute(select(AuditSeal.seq, AuditSeal.hash).where(AuditSeal.seq < kept_from)
                           .order_by(AuditSeal.seq.desc()).limit(1)).first()
    if last is None:
        return JournalPurge(0, cutoff, None)
    gone = select(AuditSeal.event_id).where(AuditSeal.seq < kept_from)
    with retention_purge():
        deleted = session.execute(delete(AuditEvent).where(AuditEvent.id.in_(gone))
                                  .execution_options(synchronize_session=False)).rowcount or 0
        session.execute(delete(AuditSeal).where(AuditSeal.seq < kept_from)
                        .execution_options(synchronize_session=False))
    session.add(AuditCheckpoint(seq=last.seq, hash=last.hash, deleted=deleted, cutoff=cutoff, as_of=as_of,
                                db_clock=dt.datetime.now(dt.UTC).replace(tzinfo=None),
                                retention_months=retention_months, actor_account_id=actor_id, db_user="sqlite"))
    session.flush()
    return JournalPurge(deleted, cutoff, Head(last.seq, last.hash))


def who_runs() -> dict[str, str]:
    """The system account running this process and the database role it connects as (the keys
    of the purge's audit event: ``os_user`` as :func:`inscriptions.audit.log_access` writes it)."""
    try:
        os_user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        os_user = ""
    db_user = str(db.session.scalar(DB_USER_POSTGRESQL)) if _is_postgresql() else "sqlite"
    return {"os_user": os_user, "db_user": db_user}


# -- verification -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Problem:
    """One place where the journal is not what was sealed."""

    code: str
    message: str
    seq: int | None = None
    event_id: int | None = None


@dataclass
class Verification:
    """The result of :func:`verify`."""

    sealed_now: int = 0
    checked: int = 0
    first: int | None = None
    head: Head = field(default_factory=lambda: Head(0, GENESIS))
    checkpoint: Mapping[str, Any] | None = None
    unsealed: list[int] = field(default_factory=list)
    compared_with: list[RecordedHead] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, code: str, message: str, *, seq: int | None = None, event_id: int | None = None) -> None:
        self.problems.append(Problem(code, message, seq, event_id))

    def lines(self) -> list[str]:
        """The report, one line each (English, like the other commands' output)."""
        out = [f"entries sealed by this run: {self.sealed_now}",
               f"entries checked: {self.checked}"
               + (f" (positions {self.first} to {self.head.seq})" if self.checked else "")]
        cp = self.checkpoint
        if cp is not None:
            out.append(f"the chain starts after the retention purge of {cp['as_of']:%Y-%m-%d %H:%M} UTC "
                       f"(positions up to {cp['seq']} deleted, {cp['deleted']} entries older than "
                       f"{cp['retention_months']} months; run by database role {cp['db_user']}"
                       + (f", account {cp['actor_account_id']}" if cp["actor_account_id"] is not None else "")
                       + ")")
        if self.unsealed:
            shown = ", ".join(str(i) for i in self.unsealed[:10]) + ("..." if len(self.unsealed) > 10 else "")
            out.append(f"entries not sealed yet: {len(self.unsealed)} ({shown}): logged by transactions "
                       f"still running or after the seal, protected by the database's grants only until "
                       f"the next seal")
        else:
            out.append("entries not sealed yet: 0")
        for recorded in self.compared_with:
            when = f" on {recorded.recorded_at}" if recorded.recorded_at else ""
            out.append(f"compared with the head recorded{when} in {recorded.source}: position {recorded.head.seq}")
        if not self.compared_with:
            out.append("no head recorded outside the database to compare with (AUDIT_HEAD_FILE, --head): "
                       "entries deleted at the very end of the journal, with their seals, would not show")
        out.append(f"head: {self.head.text()}")
        out.extend(f"PROBLEM: {p.message}" for p in self.problems)
        out.append("journal intact" if self.ok else f"journal NOT intact: {len(self.problems)} problem(s)")
        return out


def _walk(conn: Connection, report: Verification, chunk: int) -> None:
    cp = report.checkpoint
    expected = Head(cp["seq"], cp["hash"]) if cp is not None else Head(0, GENESIS)
    previous: Head | None = None
    after = -1
    while True:
        seals = conn.execute(select(_seals).where(_seals.c.seq > after).order_by(_seals.c.seq)
                             .limit(chunk)).mappings().all()
        if not seals:
            return
        ids = [s["event_id"] for s in seals]
        events = {row["id"]: row for row in conn.execute(select(_events).where(_events.c.id.in_(ids))).mappings()}
        for s in seals:
            seq, event_id = s["seq"], s["event_id"]
            if previous is None:
                report.first = seq
                if seq != expected.seq + 1 or s["prev_hash"] != expected.hash:
                    if cp is None:
                        report.add("start", f"the chain starts at position {seq}, not 1, and no retention purge "
                                            f"recorded a checkpoint: its oldest entries were deleted", seq=seq)
                    else:
                        report.add("start", f"after the last purge's checkpoint (position {cp['seq']}) the chain "
                                            f"should go on at position {cp['seq'] + 1}; it starts at {seq}, or "
                                            f"not from that checkpoint's hash", seq=seq)
            elif seq != previous.seq + 1:
                report.add("gap", f"positions {previous.seq + 1} to {seq - 1} are missing: entries were deleted "
                                  f"with their seals", seq=previous.seq + 1)
            elif s["prev_hash"] != previous.hash:
                report.add("link", f"the link from position {previous.seq} to {seq} is broken: a seal was "
                                   f"rewritten", seq=seq, event_id=event_id)
            event = events.get(event_id)
            if event is None:
                report.add("deleted", f"entry {event_id} (position {seq}) was deleted", seq=seq, event_id=event_id)
            else:
                try:
                    digest = entry_hash(s["prev_hash"], seq, event, s["fields"].split(","))
                except KeyError:
                    digest = ""
                if digest != s["hash"]:
                    report.add("changed", f"entry {event_id} (position {seq}) was changed or moved after it was "
                                          f"sealed", seq=seq, event_id=event_id)
            previous = Head(seq, s["hash"])
            report.checked += 1
            report.head = previous
        after = seals[-1]["seq"]


def _compare_head(conn: Connection, report: Verification, recorded: RecordedHead) -> None:
    report.compared_with.append(recorded)
    target = recorded.head
    cp = report.checkpoint
    if target.seq > report.head.seq:
        report.add("tail", f"the journal went up to position {target.seq} ({recorded.source}); it now ends at "
                           f"position {report.head.seq}: its newest entries were deleted", seq=target.seq)
    elif target.seq == 0 or (cp is not None and target.seq <= cp["seq"]):
        return  # the empty chain, or a head the retention purge has removed since
    elif _seal_hash(conn, target.seq) != target.hash:
        report.add("rewritten", f"position {target.seq} no longer has the hash recorded in {recorded.source}: "
                                f"the chain was rewritten from there on", seq=target.seq)


def verify(*, seal_first: bool = True, expected_heads: Sequence[Head] = (), chunk: int = 2000) -> Verification:
    """Check the whole journal; see the module's documentation for what is and is not detected.

    ``seal_first`` chains the committed entries first (as the worker would); ``expected_heads``
    are heads recorded elsewhere (``--head``), compared as the head file is.
    """
    report = Verification()
    db.session.commit()  # our own reads below, and the seal, in transactions of their own
    if seal_first:
        report.sealed_now = seal().sealed
    recorded = recorded_head()
    with db.engine.connect() as conn:
        if _is_postgresql():
            conn.execution_options(isolation_level="REPEATABLE READ")  # one snapshot for the whole walk
        with conn.begin():
            report.checkpoint = _latest_checkpoint(conn)
            _walk(conn, report, chunk)
            if report.checked == 0 and report.checkpoint is not None:
                report.head = Head(report.checkpoint["seq"], report.checkpoint["hash"])
            cp = report.checkpoint
            if cp is not None and cp["as_of"] > cp["db_clock"] + CLOCK_SLACK:
                report.add("future_purge", f"the last retention purge was dated {cp['as_of']:%Y-%m-%d} while the "
                                           f"database's clock said {cp['db_clock']:%Y-%m-%d}: it deleted entries "
                                           f"before the end of their retention")
            report.unsealed = list(conn.execute(_unsealed().with_only_columns(_events.c.id)).scalars())
            for head in ([recorded] if recorded is not None else []) + [
                    RecordedHead(h, "the command line") for h in expected_heads]:
                _compare_head(conn, report, head)
    return report


# -- the database roles (PostgreSQL) ----------------------------------------------------------------

def journal_tables() -> tuple[list[str], list[str]]:
    """The journal's tables the application may only insert into, and those it may only read."""
    names = sorted(t.name for t in db.metadata.sorted_tables if t.name.startswith("audit_"))
    read_only = [_checkpoints.name]
    return [n for n in names if n not in read_only], read_only


def grants_sql(app_role: str) -> list[str]:
    """The statements that give ``app_role`` what the application needs and no more on the journal.

    Run by the owner role (the one that runs the migrations), after every ``db upgrade``: the
    statements are idempotent. See docs/production.md, "The journal's roles".
    """
    if not ROLE_NAME.match(app_role):
        raise ValueError(f"{app_role!r} is not a plain role name (lower-case letters, digits, _)")
    insert_only, read_only = journal_tables()
    return [
        f"GRANT USAGE ON SCHEMA public TO {app_role};",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {app_role};",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {app_role};",
        f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON alembic_version FROM {app_role};",
        f"REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON {', '.join(insert_only)} FROM {app_role};",
        f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON {', '.join(read_only)} FROM {app_role};",
        f"REVOKE ALL ON FUNCTION {PURGE_SIGNATURE} FROM PUBLIC;",
        f"GRANT EXECUTE ON FUNCTION {PURGE_SIGNATURE} TO {app_role};",
    ]
