"""The services this application serves, loaded once at start-up from the plugins folder."""

from __future__ import annotations

from functools import lru_cache

from blinker import Namespace
from flask import Flask, current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from inscriptions.clock import as_local_aware
from inscriptions.definitions.errors import ServiceDefinitionError
from inscriptions.definitions.loader import LoadedService, load_services
from inscriptions.definitions.schema import ServiceDefinition
from inscriptions.extensions import db
from inscriptions.models import FormVersion, ServiceSession

EXTENSION_KEY = "inscriptions.services"
# (service code, form version id) whose sessions were seen matching the loaded definition.
SYNCED_KEY = "inscriptions.synced_versions"
# Form versions are immutable once written: what the booking path needs of them is kept per
# application (hence per database) instead of being read on every booking.
VERSION_IDS_KEY = "inscriptions.current_version_ids"
VERSION_DEFINITIONS_KEY = "inscriptions.version_definitions"


class ServiceRegistry:
    """The valid services by code. The app refuses to start when any definition is invalid."""

    def __init__(self, services: dict[str, LoadedService]):
        self._services = services

    def get(self, code: str) -> LoadedService | None:
        return self._services.get(code)

    def all(self) -> list[LoadedService]:
        return sorted(self._services.values(), key=lambda s: s.definition.name)

    def __len__(self) -> int:
        return len(self._services)


def init_registry(app: Flask) -> ServiceRegistry:
    services, problems = load_services(app.config["PLUGINS_DIR"])
    if problems:
        raise ServiceDefinitionError(problems)
    registry = ServiceRegistry(services)
    app.extensions[EXTENSION_KEY] = registry
    app.extensions[SYNCED_KEY] = set()
    app.extensions[VERSION_IDS_KEY] = {}
    app.extensions[VERSION_DEFINITIONS_KEY] = {}
    return registry


def registry() -> ServiceRegistry:
    return current_app.extensions[EXTENSION_KEY]


@lru_cache(maxsize=256)
def _parse(version_id: int, definition_json: str) -> ServiceDefinition:
    return ServiceDefinition.model_validate_json(definition_json)


def definition_of(version: FormVersion) -> ServiceDefinition:
    """The definition a form version froze (parsed once per process)."""
    import json

    return _parse(version.id, json.dumps(version.definition))


def version_definition(version_id: int) -> tuple[str, ServiceDefinition] | None:
    """The service code and frozen definition of the form version ``version_id`` (None if it does
    not exist), read from the database once per application: a version never changes."""
    cache: dict[int, tuple[str, ServiceDefinition]] = current_app.extensions.setdefault(
        VERSION_DEFINITIONS_KEY, {})
    found = cache.get(version_id)
    if found is None:
        version = db.session.get(FormVersion, version_id)
        if version is None:
            return None
        found = cache[version_id] = (version.service_code, definition_of(version))
    return found


def definition_for(version_id: int) -> ServiceDefinition:
    """The frozen definition of the form version ``version_id`` (see :func:`version_definition`);
    for a row that references the version, so it exists."""
    found = version_definition(version_id)
    if found is None:
        raise LookupError(f"form version {version_id} not found")
    return found[1]


def current_version_id(service: LoadedService) -> int:
    """The id of :func:`current_version`, asked of the database once per application and
    definition (the row of a given definition fingerprint never changes)."""
    cache: dict[tuple[str, str], int] = current_app.extensions.setdefault(VERSION_IDS_KEY, {})
    key = (service.code, service.content_hash)
    found = cache.get(key)
    if found is None:
        version = current_version(service)
        found = version.id
        # Kept only once the version was seen in line with its sessions (see
        # _resync_sessions_once): a version or a re-sync written by this very transaction may
        # still be rolled back, and must then be looked up again.
        if (service.code, found) in current_app.extensions.get(SYNCED_KEY, ()):
            cache[key] = found
    return found


def current_version(service: LoadedService) -> FormVersion:
    """The form version matching the definition on disk, created (with its sessions) if new.

    Several processes may start with the same new definition: the unique constraint on
    ``(service_code, content_hash)`` makes one of them win and the others read its row.
    """
    found = db.session.scalar(
        select(FormVersion).filter_by(service_code=service.code, content_hash=service.content_hash)
    )
    if found is not None:
        _resync_sessions_once(service, found)
        return found
    latest = db.session.scalar(
        select(func.max(FormVersion.version)).filter_by(service_code=service.code)
    )
    version = FormVersion(
        service_code=service.code,
        version=(latest or 0) + 1,
        content_hash=service.content_hash,
        definition=service.definition.model_dump(mode="json", by_alias=True),
    )
    try:
        with db.session.begin_nested():
            db.session.add(version)
            db.session.flush()
            _sync_sessions(service, version)
    except IntegrityError:
        found = db.session.scalar(
            select(FormVersion).filter_by(service_code=service.code, content_hash=service.content_hash)
        )
        if found is None:
            raise
        return found
    return version


def _resync_sessions_once(service: LoadedService, version: FormVersion) -> None:
    """Sessions follow the definition on disk, also when it goes back to an earlier version.

    A definition edited then reverted finds its old version, whose sessions (capacity, times)
    must replace those of the version in between. Once the rows are seen in line, the check is
    skipped for the rest of the process (a re-sync may still be rolled back with its booking,
    so only an observed match is remembered).
    """
    done: set[tuple[str, int]] = current_app.extensions.setdefault(SYNCED_KEY, set())
    key = (service.code, version.id)
    if key in done:
        return
    rows = {
        s.code: s.form_version_id
        for s in db.session.scalars(select(ServiceSession).filter_by(service_code=service.code))
    }
    if any(rows.get(sess.code) != version.id for sess in service.definition.sessions):
        _sync_sessions(service, version)
    else:
        done.add(key)


def _naive_utc(value):  # type: ignore[no-untyped-def]
    import datetime as dt

    return as_local_aware(value).astimezone(dt.UTC).replace(tzinfo=None)


# Sent inside the transaction that gave sessions more places (``session_ids``), and after the
# commit of :func:`sync_all`: the allocation package listens (inscriptions.allocation.capacity).
_signals = Namespace()
capacity_grown = _signals.signal("capacity-grown")
versions_synced = _signals.signal("versions-synced")


def _sync_sessions(service: LoadedService, version: FormVersion) -> None:
    existing = {
        s.code: s
        for s in db.session.scalars(select(ServiceSession).filter_by(service_code=service.code))
    }
    grown: list[ServiceSession] = []
    for sess in service.definition.sessions:
        row = existing.get(sess.code) or ServiceSession(service_code=service.code, code=sess.code)
        if row.id is not None and sess.capacity > row.capacity:
            grown.append(row)
        row.label = sess.label
        row.starts_at = _naive_utc(sess.starts_at)
        row.ends_at = _naive_utc(sess.ends_at) if sess.ends_at else None
        row.capacity = sess.capacity
        row.form_version_id = version.id
        db.session.add(row)
    db.session.flush()
    if grown:
        # More places: whoever decides places (the allocation package) hears it in this same
        # transaction; definitions only record what the town wrote.
        capacity_grown.send(service.code, session_ids=[row.id for row in grown])


def sync_all() -> list[FormVersion]:
    """Make sure every loaded service has its current version and sessions in the database."""
    versions = [current_version(service) for service in registry().all()]
    db.session.commit()
    versions_synced.send(None)
    return versions
