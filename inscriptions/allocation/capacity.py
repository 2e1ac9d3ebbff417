"""Sessions given more places by a new definition: their waiting lists move (the allocator's job,
not the definitions'), in the transaction that recorded the new capacity; families are told
once the definitions' sync has committed."""

from __future__ import annotations

from typing import Any

from inscriptions.definitions.registry import capacity_grown, versions_synced
from inscriptions.registrations import waitlist


@capacity_grown.connect
def _places_added(_service_code: str, *, session_ids: list[int], **_: Any) -> None:
    waitlist.promote_sessions(session_ids)


@versions_synced.connect
def _synced(_sender: Any, **_: Any) -> None:
    waitlist.notify_pending()
