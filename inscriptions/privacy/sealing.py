"""Health answers and uploaded files, encrypted at rest with a key kept outside the database.

An answer to a field flagged ``sensitive`` (health, PAI, allergies, a diet that may reveal a
religion) is stored *sealed*: ``{"$sealed": "<Fernet token>"}`` in place of the value, in the
registrations' answers and the applications' participants alike. It stays sealed in memory too:
the allocator copies it from an application to its registrations without reading it, and an agent's
page, which leaves sensitive answers out anyway, never decrypts it. Only the readers allowed to see
it open it (:func:`unsealed`): the family, staff holding ``read_sensitive_answers``
(:mod:`inscriptions.privacy.sensitive`), the service's declared counts, the family's data export.
A database dump, a backup or a stolen disk shows tokens, not health data.

Files sent with forms (certificates...) are encrypted whole on disk (:func:`seal_bytes`) and
decrypted when a reader allowed to open them downloads them.

Keys: ``INSCRIPTIONS_DATA_KEYS``, Fernet keys separated by commas, the newest first: the first
encrypts, all decrypt (``MultiFernet``). Rotation: put a new key first, keep the old ones, run
``inscriptions privacy rotate-keys`` (every sealed value and file re-encrypted with the new key),
then remove the old key. Without the setting (development, tests) a key is generated once into
the instance folder (``data_keys``); production refuses to start without it
(:func:`inscriptions.settings.check_production`): a key lost with a redeployed folder would make
every sealed answer unreadable. Keep the keys out of the database's backups, and back them up
separately (docs/production.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import Flask, current_app

MARK = "$sealed"
_EXTENSION = "inscriptions.sealing"
KEYS_FILE = "data_keys"


class SealingError(RuntimeError):
    """A sealed value or file that no configured key opens (a key removed too early)."""


def parse_keys(text: str) -> list[str]:
    """The keys of an ``INSCRIPTIONS_DATA_KEYS`` value (commas or lines), newest first."""
    return [k.strip() for k in text.replace("\n", ",").split(",") if k.strip()]


def _keys(app: Flask) -> MultiFernet:
    found = app.extensions.get(_EXTENSION)
    if found is None:
        configured = app.config.get("DATA_KEYS") or []
        keys = parse_keys(configured) if isinstance(configured, str) else list(configured)
        if not keys:
            keys = _instance_keys(Path(app.instance_path))
        try:
            found = MultiFernet([Fernet(k) for k in keys])
        except ValueError as exc:
            raise SealingError("INSCRIPTIONS_DATA_KEYS holds a value that is not a Fernet key "
                               "(generate one with `inscriptions privacy new-key`)") from exc
        app.extensions[_EXTENSION] = found
    return found


def _instance_keys(folder: Path) -> list[str]:
    path = folder / KEYS_FILE
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(Fernet.generate_key().decode() + "\n")
        path.chmod(0o600)
    return parse_keys(path.read_text())


def new_key() -> str:
    """A fresh Fernet key (for ``INSCRIPTIONS_DATA_KEYS``)."""
    return Fernet.generate_key().decode()


def is_sealed(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get(MARK), str)


def seal(value: Any) -> dict[str, str]:
    """``value`` (anything JSON can hold) encrypted into its stored form."""
    if is_sealed(value):
        return value
    token = _keys(current_app).encrypt(json.dumps(value, ensure_ascii=False).encode())
    return {MARK: token.decode("ascii")}


def unseal(value: Any) -> Any:
    """The value inside a sealed one; anything else unchanged (answers stored before sealing)."""
    if not is_sealed(value):
        return value
    try:
        return json.loads(_keys(current_app).decrypt(value[MARK].encode("ascii")))
    except InvalidToken as exc:
        raise SealingError("a sealed answer cannot be opened with the configured keys") from exc


def seal_answers(answers: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """A copy of ``answers`` with the sensitive ones sealed. ``names``: the definition's sensitive
    names (:func:`inscriptions.privacy.sensitive.sensitive_names`): ``allergy`` seals the whole
    answer, ``contacts.health`` that sub-answer in each row of the group ``contacts``."""
    whole = {n for n in names if "." not in n}
    subs: dict[str, set[str]] = {}
    for name in names:
        if "." in name:
            group, sub = name.split(".", 1)
            subs.setdefault(group, set()).add(sub)
    sealed: dict[str, Any] = {}
    for name, value in answers.items():
        if name in whole and value is not None:
            value = seal(value)
        elif name in subs and isinstance(value, list):
            value = [{k: seal(v) if k in subs[name] and v is not None else v for k, v in row.items()}
                     if isinstance(row, dict) else row for row in value]
        sealed[name] = value
    return sealed


def _each_sealed(value: Any, change: Callable[[dict[str, str]], Any]) -> Any:
    """``value`` (a mapping, a list, nested) with ``change`` applied to every sealed value in it."""
    if is_sealed(value):
        return change(value)
    if isinstance(value, Mapping):
        return {k: _each_sealed(v, change) for k, v in value.items()}
    if isinstance(value, list):
        return [_each_sealed(v, change) for v in value]
    return value


def unsealed(answers: Any) -> Any:
    """``answers`` (a mapping, a list, nested) with every sealed value opened: for the readers
    allowed to see sensitive answers only."""
    return _each_sealed(answers, unseal)


def resealed(answers: Any) -> Any:
    """``answers`` with every sealed value encrypted again with the newest key (rotation)."""
    return _each_sealed(answers, lambda sealed: {
        MARK: _keys(current_app).rotate(sealed[MARK].encode("ascii")).decode("ascii")})


# -- files ------------------------------------------------------------------------------------------

FILE_MAGIC = b"INSCRIPTIONS-SEALED-1\n"


def seal_bytes(data: bytes) -> bytes:
    """A file's content as stored: encrypted, behind a marker line."""
    return FILE_MAGIC + _keys(current_app).encrypt(data)


def unseal_bytes(stored: bytes) -> bytes:
    """A stored file's content (files stored before sealing are returned as they are)."""
    if not stored.startswith(FILE_MAGIC):
        return stored
    try:
        return _keys(current_app).decrypt(stored[len(FILE_MAGIC):])
    except InvalidToken as exc:
        raise SealingError("a sealed file cannot be opened with the configured keys") from exc


def reseal_bytes(stored: bytes) -> bytes:
    """A stored file encrypted again with the newest key (a file stored before sealing: sealed)."""
    if not stored.startswith(FILE_MAGIC):
        return seal_bytes(stored)
    return FILE_MAGIC + _keys(current_app).rotate(stored[len(FILE_MAGIC):])


class OpenedOnRead(dict[str, Any]):
    """Answers whose sealed values open when read by key (``get``, ``[]``): the allocator's
    priority rules read the few answers they name, not every sealed one of thousands."""

    def __getitem__(self, key: str) -> Any:
        return unseal(super().__getitem__(key))

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return unseal(super().get(key, default))


# -- rotation ---------------------------------------------------------------------------------------

CHUNK = 500


def rotate_all() -> dict[str, int]:
    """Encrypt every sealed answer and file again with the newest key, and seal what was stored in
    clear before (answers of fields flagged sensitive since, files kept before sealing); returns
    how many rows and files were rewritten. Committed chunk by chunk: safe to stop and run again."""
    from sqlalchemy import select

    from inscriptions import files
    from inscriptions.definitions.registry import definition_for
    from inscriptions.extensions import db
    from inscriptions.models import Application, Registration, StoredFile, Upload
    from inscriptions.privacy.sensitive import sensitive_names
    from inscriptions.uploads import open_upload

    def names(version_id: int) -> set[str]:
        return sensitive_names(definition_for(version_id))

    counts = {"registrations": 0, "applications": 0, "files": 0}
    for model, key in ((Registration, "registrations"), (Application, "applications")):
        last = 0
        while True:
            rows = list(db.session.scalars(select(model).where(model.id > last).order_by(model.id).limit(CHUNK)))
            if not rows:
                break
            for row in rows:
                if key == "registrations":
                    new = resealed(seal_answers(row.answers or {}, names(row.form_version_id)))
                    if new != row.answers:
                        row.answers, counts[key] = new, counts[key] + 1
                else:
                    sensitive = names(row.form_version_id)
                    people = [{**p, "answers": resealed(seal_answers(p.get("answers") or {}, sensitive))}
                              if isinstance(p, dict) and "answers" in p else p for p in row.participants or []]
                    if people != row.participants:
                        row.participants, counts[key] = people, counts[key] + 1
            last = rows[-1].id
            db.session.commit()
    # Every file families' data is kept in, but the print PDFs (short-lived, made to be printed).
    sealed_kinds = (files.UPLOAD, files.SCAN_IMAGE, files.SCAN_UPLOAD)
    paths = {files.absolute(row.path) for row in db.session.scalars(
        select(StoredFile).where(StoredFile.kind.in_(sealed_kinds)))}
    for upload in db.session.scalars(select(Upload)):
        try:
            paths.add(open_upload(upload))
        except FileNotFoundError:
            continue  # purged meanwhile
    db.session.rollback()
    for path in sorted(paths):
        if not path.is_file():
            continue
        stored = path.read_bytes()
        new_bytes = reseal_bytes(stored)
        temporary = path.with_name(f".rotate-{path.name}")
        temporary.write_bytes(new_bytes)
        temporary.replace(path)  # whole or not at all
        counts["files"] += 1
    return counts
