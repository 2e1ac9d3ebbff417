"""Numbers typed or sent as text: ASCII digits only.

``str.isdigit()`` is also true of "²", "¹" or "٣", which ``int()`` refuses or reads as another
number: every check that precedes an ``int()`` of outside input uses :func:`is_digits`.
"""

from __future__ import annotations


def is_digits(text: object) -> bool:
    """Whether ``text`` is a non-empty string of the digits 0 to 9 only."""
    return isinstance(text, str) and text.isascii() and text.isdigit()
