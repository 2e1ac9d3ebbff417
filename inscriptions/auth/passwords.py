"""Password hashing: Argon2id (argon2-cffi), with the hashes of earlier versions still accepted.

Argon2id at OWASP's baseline (19 MiB of memory, 2 passes, 1 lane) costs ~25 ms of CPU to check,
where Werkzeug's default scrypt (the hashes this project wrote before) costs ~125 ms: on an
opening morning every family logs in within minutes, and on two cores the log-in was the first
thing to fall over (bench/opening_day.py at 1,000 clients). Older hashes (``scrypt:…`` or
``pbkdf2:…``, Werkzeug's format) still verify and are replaced by an Argon2id hash at the next
successful log-in (:func:`needs_rehash`).
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from werkzeug.security import check_password_hash

# OWASP Password Storage Cheat Sheet, Argon2id: m=19 MiB, t=2, p=1.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
ARGON2_PREFIX = "$argon2"


def hash_password(password: str) -> str:
    """A new Argon2id hash of ``password`` (random salt, parameters in the hash itself)."""
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored`` (Argon2 or an earlier Werkzeug hash)."""
    if not stored:
        return False
    if stored.startswith(ARGON2_PREFIX):
        try:
            return _hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False
    return check_password_hash(stored, password)


def needs_rehash(stored: str | None) -> bool:
    """Whether ``stored`` should be replaced after a successful check: an earlier format, or
    Argon2 parameters other than today's."""
    if not stored or not stored.startswith(ARGON2_PREFIX):
        return True
    try:
        return _hasher.check_needs_rehash(stored)
    except InvalidHashError:
        return True
