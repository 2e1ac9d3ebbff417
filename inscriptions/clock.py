"""The one clock of the engine, so tests and simulations can move time."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

_offset = dt.timedelta(0)
_frozen: dt.datetime | None = None


def now() -> dt.datetime:
    """Current time, timezone-aware (UTC)."""
    if _frozen is not None:
        return _frozen
    return dt.datetime.now(dt.UTC) + _offset


def utcnow_naive() -> dt.datetime:
    """Current UTC time without tzinfo, as stored in the database (portable across backends)."""
    return now().replace(tzinfo=None)


def frozen() -> dt.datetime | None:
    """The moment the clock is frozen at (None: it follows the real time)."""
    return _frozen


def freeze(at: dt.datetime | None) -> None:
    """Freeze the clock at ``at`` (aware), or unfreeze with None. For tests and demos."""
    global _frozen
    _frozen = at


def local_zone(name: str = "Europe/Paris") -> ZoneInfo:
    return ZoneInfo(name)


def as_local_aware(value: dt.datetime, zone: str = "Europe/Paris") -> dt.datetime:
    """Definition files give naive local times; read them in the town's time zone."""
    return value.replace(tzinfo=ZoneInfo(zone)) if value.tzinfo is None else value
