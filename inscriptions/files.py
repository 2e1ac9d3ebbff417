"""The register of every file written under ``UPLOAD_DIR``: whose data it holds, how long it stays.

Each writer records its file with :func:`record` in the same transaction as the row that refers to
it (a rolled-back transaction leaves an unrecorded file, which :func:`unrecorded` finds):

- ``upload``: ``<household id>/<token>``, a document sent with a form (:mod:`inscriptions.uploads`);
  it goes with its registrations, or its household;
- ``scan_image``: ``scans/<sha256>.png``, a scanned page or a cut-out of it
  (:mod:`inscriptions.intake.store`); it goes with its scanned pages;
- ``scan_upload``: ``scans/uploads/<sha256>``, a scanner's stack as uploaded; kept
  ``SCAN_RETENTION_DAYS`` (its pages are stored one by one as soon as it is read);
- ``print``: ``print/<job>-<random>.pdf``, a print run (:mod:`inscriptions.paper.batch`); kept
  ``PRINT_RETENTION_DAYS``.

A file is linked (:func:`link`) to every household whose data it holds: the household of an
upload, of a scanned page once the page is matched to a household (its printed code, or the
agent's confirmation), every household of a print run. Erasing a household
(:func:`erase_household`) deletes every file linked to it, whole: a print run or a scanner's stack
holding other families too goes entirely (the run can be printed again; the other families' pages
were stored one by one when the stack was read). The purge deletes the files whose retention has
passed (:func:`expired`).

Nothing here deletes a file: the functions return paths, deleted by the caller once the database
transaction is committed (:meth:`inscriptions.privacy.anonymise.Removal.delete_files`), so a
rolled-back transaction (a dry run, an error) leaves every file in place.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from flask import current_app
from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.sql.dml import Insert

from inscriptions.clock import utcnow_naive
from inscriptions.extensions import db
from inscriptions.models import StoredFile, StoredFileHousehold

UPLOAD, SCAN_IMAGE, SCAN_UPLOAD, PRINT = "upload", "scan_image", "scan_upload", "print"
KINDS = (UPLOAD, SCAN_IMAGE, SCAN_UPLOAD, PRINT)
# A file younger than this (seconds) may belong to a transaction not committed yet: not reported.
IN_PROGRESS_S = 3600


def root() -> Path:
    """``UPLOAD_DIR``: every file the application writes is under it."""
    return Path(current_app.config["UPLOAD_DIR"])


def relative(path: Path | str) -> str:
    """The register's name of ``path`` (absolute, or already relative): POSIX, relative to ``UPLOAD_DIR``."""
    candidate = Path(path)
    if candidate.is_absolute():
        candidate = candidate.resolve().relative_to(root().resolve())
    name = PurePosixPath(*candidate.parts)
    if name.is_absolute() or ".." in name.parts or not name.parts:
        raise ValueError(f"{path} is not a file under UPLOAD_DIR")
    return str(name)


def absolute(name: str) -> Path:
    """The file on disk of a register's name."""
    return root().joinpath(*PurePosixPath(name).parts)


def _insert(table: object) -> Insert:
    """``INSERT ... ON CONFLICT`` of the running database (PostgreSQL or SQLite)."""
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)  # type: ignore[arg-type]


def record(path: Path | str, kind: str, households: Iterable[int | None] = (),
           delete_after: dt.datetime | None = None) -> None:
    """Record a file just written (in the caller's transaction, not committed), with its households.

    The same file recorded again (images are stored once per content hash) keeps one row: it
    gains the new households, and the later of the two deadlines (none beats any).
    """
    record_many([path], kind, households, delete_after)


def record_many(paths: Iterable[Path | str], kind: str, households: Iterable[int | None] = (),
                delete_after: dt.datetime | None = None) -> None:
    """:func:`record` for several files of one kind at once (a scanned page and its cut-outs)."""
    if kind not in KINDS:
        raise ValueError(f"unknown stored file kind {kind!r}")
    names = sorted({relative(p) for p in paths})
    if not names:
        return
    now = utcnow_naive()
    db.session.execute(_insert(StoredFile.__table__).values(
        [{"path": name, "kind": kind, "created_at": now, "delete_after": delete_after} for name in names]
    ).on_conflict_do_nothing())
    kept = db.session.execute(select(StoredFile.id, StoredFile.delete_after).where(StoredFile.path.in_(names))).all()
    later = [row.id for row in kept
             if row.delete_after is not None and (delete_after is None or delete_after > row.delete_after)]
    if later:
        db.session.execute(update(StoredFile).where(StoredFile.id.in_(later)).values(delete_after=delete_after))
    _link_ids([row.id for row in kept], households)


def link(paths: Iterable[Path | str], households: Iterable[int | None]) -> int:
    """Link recorded files to households whose data they hold (not committed); returns the files found.

    A path not recorded is skipped: every writer records its files, and :func:`unrecorded`
    reports any that was not.
    """
    names = sorted({relative(p) for p in paths})
    if not names:
        return 0
    ids = list(db.session.scalars(select(StoredFile.id).where(StoredFile.path.in_(names))))
    _link_ids(ids, households)
    return len(ids)


def _link_ids(ids: list[int], households: Iterable[int | None]) -> None:
    owners = sorted({int(h) for h in households if h is not None})
    if not ids or not owners:
        return
    rows = [{"file_id": file_id, "household_id": household_id} for file_id in ids for household_id in owners]
    db.session.execute(_insert(StoredFileHousehold.__table__).values(rows).on_conflict_do_nothing())


@dataclass(frozen=True)
class Gone:
    """A file taken off the register: its name there, its kind, and its path on disk."""

    name: str
    kind: str
    path: Path


def _take(rows: list[StoredFile]) -> list[Gone]:
    """Delete the register's rows (their links go with them); the files are the caller's to delete."""
    gone = [Gone(row.path, row.kind, absolute(row.path)) for row in rows]
    ids = [row.id for row in rows]
    if ids:
        db.session.execute(delete(StoredFileHousehold).where(StoredFileHousehold.file_id.in_(ids)))
        db.session.execute(delete(StoredFile).where(StoredFile.id.in_(ids)))
    return gone


def of_household(household_id: int) -> list[StoredFile]:
    """Every recorded file that holds data about the household."""
    return list(db.session.scalars(
        select(StoredFile).join(StoredFileHousehold, StoredFileHousehold.file_id == StoredFile.id)
        .where(StoredFileHousehold.household_id == household_id).order_by(StoredFile.path)
    ))


def erase_household(household_id: int) -> list[Gone]:
    """Take every file holding data about the household off the register (not committed).

    Files shared with other households (a print run, a scanner's stack) go whole. Returns them,
    for the caller to delete after the commit.
    """
    return _take(of_household(household_id))


def forget(paths: Iterable[Path | str]) -> list[Gone]:
    """Take these files off the register (their rows went; the caller deletes the files)."""
    names = sorted({relative(p) for p in paths})
    if not names:
        return []
    return _take(list(db.session.scalars(select(StoredFile).where(StoredFile.path.in_(names)))))


def expired(now: dt.datetime, retention: Mapping[str, dt.timedelta] | None = None) -> list[Gone]:
    """Take the files past retention off the register (not committed): their own ``delete_after``,
    or for the kinds in ``retention`` (the settings in force) their age."""
    due = [StoredFile.delete_after < now]
    due += [and_(StoredFile.kind == kind, StoredFile.created_at < now - age)
            for kind, age in (retention or {}).items()]
    return _take(list(db.session.scalars(select(StoredFile).where(or_(*due)).order_by(StoredFile.path))))


def recorded_names() -> set[str]:
    return set(db.session.scalars(select(StoredFile.path)))


def unrecorded(names: set[str] | None = None) -> list[Path]:
    """Files under ``UPLOAD_DIR`` the register does not know (nothing would ever delete them).

    Files changed in the last hour are left out: their transaction may not be committed yet.
    """
    known = recorded_names() if names is None else names
    base = root()
    if not base.is_dir():
        return []
    recent = time.time() - IN_PROGRESS_S
    found = []
    for path in sorted(base.rglob("*")):
        if not path.is_file() or path.stat().st_mtime > recent:
            continue
        if str(PurePosixPath(*path.relative_to(base).parts)) not in known:
            found.append(path)
    return found


def missing(names: set[str] | None = None) -> list[str]:
    """Recorded files no longer on disk (deleted by hand, or a restore without its files)."""
    known = recorded_names() if names is None else names
    return sorted(name for name in known if not absolute(name).is_file())
