"""A verifiable draw: the order in which applications are allocated, recomputable by anyone.

French law (CRPA L311-3-1) asks that an algorithmic decision can be explained and checked. So
the draw depends on nothing but public data and one secret revealed afterwards:

1. at opening, the town draws a secret seed (:func:`new_seed`) and publishes its SHA-256
   (:func:`commitment`), which fixes the seed without revealing it;
2. at the draw date, the town reveals the seed; the order is :func:`draw_order` of the seed and
   the applications' public identifiers (``"LOI-D000437"``), each with its weight;
3. anyone checks that the revealed seed matches the published commitment and recomputes the
   order (:func:`verify`), with this module or with ``sha256sum`` alone (see :func:`ticket`).

The town cannot choose a favourable seed after seeing the applications (the commitment came
first), and nobody can predict the order before the seed is revealed.

Pure and dependency-free (no database, no Flask), so it can be read, tested and reused on its
own; integers only, so every platform computes the same order.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Sequence

# Recorded with each draw: a published draw must be recomputable with the algorithm it used,
# so any change to how tickets or keys are computed needs a new name.
ALGORITHM = "sha256-tickets/1"

MAX_WEIGHT = 100

Entry = str | tuple[str, int]


def new_seed() -> str:
    """A fresh secret seed: 32 random bytes from :mod:`secrets`, as 64 lowercase hex digits."""
    return secrets.token_hex(32)


def commitment(seed: str) -> str:
    """The SHA-256 (lowercase hex) of the seed's UTF-8 bytes: what is published before the draw.

    Recompute it with ``printf '%s' "$SEED" | sha256sum`` (``printf``, not ``echo``, which would
    add a newline to the bytes hashed).
    """
    _check_seed(seed)
    return hashlib.sha256(seed.encode("utf-8")).hexdigest()


def ticket(seed: str, public_id: str, number: int = 0) -> int:
    """Ticket ``number`` of the application ``public_id``: a 256-bit integer.

    It is the SHA-256 digest, read as a big-endian unsigned integer, of the UTF-8 bytes of::

        ALGORITHM + "\\n" + seed + "\\n" + public_id + "\\n" + str(number)

    with no trailing newline and ``number`` in decimal. For seed ``abc``, application
    ``LOI-D000437``, ticket 0::

        printf 'sha256-tickets/1\\nabc\\nLOI-D000437\\n0' | sha256sum

    prints the ticket in hexadecimal; comparing tickets as hex strings of equal length gives the
    same order as comparing the integers.
    """
    _check_seed(seed)
    _check_public_id(public_id)
    message = f"{ALGORITHM}\n{seed}\n{public_id}\n{number}".encode()
    return int.from_bytes(hashlib.sha256(message).digest(), "big")


def draw_order(seed: str, entries: Iterable[Entry]) -> list[str]:
    """The public ids of ``entries`` in drawn order (first drawn first).

    An entry is a public id (weight 1) or a ``(public_id, weight)`` pair, the weight an ``int``
    from 1 to 100 (a resident twice as likely as a non-resident gets weight 2 against 1).

    An entry of weight ``w`` holds ``w`` tickets, numbered 0 to ``w - 1`` (:func:`ticket`); its
    key is the smallest of them. Entries are ordered by key, smallest first; equal keys (two
    SHA-256 digests equal: practically impossible) are ordered by public id. The order of
    ``entries`` does not matter.

    Why this is exactly "successive draws proportional to weight": every ticket is an
    independent, uniformly random number (SHA-256 behaves as one), so each ticket is equally
    likely to be the smallest of all, and the entry holding it wins the first draw with
    probability ``w / (total weight)``. Taking that entry out removes its tickets only; the
    other entries' keys (the minima of their own tickets) are unchanged, and among the tickets
    left each is again equally likely to be the smallest. So the next entry is drawn among those
    remaining, again in proportion to its weight, and so on. Integers only, no floating-point
    arithmetic: every platform computes the same order.

    Raises ValueError on an empty seed, a duplicate public id or a weight that is not an ``int``
    from 1 to 100 (``True`` is not a weight).
    """
    _check_seed(seed)
    keyed: list[tuple[int, str]] = []
    seen: set[str] = set()
    for entry in entries:
        public_id, weight = _parse_entry(entry)
        if public_id in seen:
            raise ValueError(f"Duplicate public id in the draw: {public_id!r}.")
        seen.add(public_id)
        key = min(ticket(seed, public_id, number) for number in range(weight))
        keyed.append((key, public_id))
    keyed.sort()
    return [public_id for _, public_id in keyed]


def verify(seed: str, published_commitment: str, entries: Iterable[Entry], recorded_order: Sequence[str]) -> bool:
    """Whether a recorded draw checks out: the seed is the one committed to, and gives this order.

    True only if :func:`commitment` of ``seed`` equals ``published_commitment`` (hex, any case)
    and :func:`draw_order` of ``seed`` and ``entries`` equals ``recorded_order``. Malformed
    input (empty seed, duplicate id, bad weight) raises ValueError, as in :func:`draw_order`.
    """
    # Constant-time comparison: the habit for secrets and digests, and it costs nothing here.
    if not hmac.compare_digest(commitment(seed).encode(), published_commitment.lower().encode()):
        return False
    return draw_order(seed, entries) == list(recorded_order)


def ranks(order: Sequence[str]) -> dict[str, int]:
    """Public id -> its rank in ``order``, from 1 (drawn first)."""
    return {public_id: rank for rank, public_id in enumerate(order, start=1)}


def _check_seed(seed: str) -> None:
    if not isinstance(seed, str) or not seed:
        raise ValueError("The draw seed must be a non-empty string.")
    # A line break would make the hashed text ambiguous (it separates the fields of a ticket).
    if "\n" in seed or "\r" in seed:
        raise ValueError("The draw seed must not contain a line break.")


def _check_public_id(public_id: str) -> None:
    if not isinstance(public_id, str) or not public_id:
        raise ValueError(f"A public id must be a non-empty string, not {public_id!r}.")
    if "\n" in public_id or "\r" in public_id:
        raise ValueError(f"A public id must not contain a line break: {public_id!r}.")


def _parse_entry(entry: Entry) -> tuple[str, int]:
    """``(public_id, weight)`` of an entry, checked."""
    if isinstance(entry, str):
        public_id, weight = entry, 1
    else:
        try:
            public_id, weight = entry
        except (TypeError, ValueError):
            raise ValueError(f"A draw entry is a public id or a (public_id, weight) pair, not {entry!r}.") from None
    _check_public_id(public_id)
    # bool is a subclass of int, but True as a weight is surely a mistake.
    if isinstance(weight, bool) or not isinstance(weight, int) or not 1 <= weight <= MAX_WEIGHT:
        raise ValueError(
            f"The weight of {public_id!r} must be an integer from 1 to {MAX_WEIGHT}, not {weight!r}."
        )
    return public_id, weight
