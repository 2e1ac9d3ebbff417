"""Numbers typed or sent as text: ASCII digits only.

``str.isdigit()`` is also true of "²", "¹" or "٣", which ``int()`` refuses or reads as another
number: every check that precedes an ``int()`` of outside input uses :func:`is_digits`.
"""

from __future__ import annotations

# The largest id a row may have (PostgreSQL's integer): a longer number typed in a filter is no
# row's id, and compared with an integer column it would be an error, not "nothing found".
MAX_ID = 2**31 - 1
# The highest page number a list accepts (a larger one would overflow the query's offset).
MAX_PAGE = 100_000


def is_digits(text: object) -> bool:
    """Whether ``text`` is a non-empty string of the digits 0 to 9 only."""
    return isinstance(text, str) and text.isascii() and text.isdigit()


def is_id(text: object) -> bool:
    """Whether ``text`` is digits naming a possible row id (at most :data:`MAX_ID`)."""
    return is_digits(text) and int(str(text)) <= MAX_ID
