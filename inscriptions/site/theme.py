"""The town's colours as CSS custom properties, with contrast checks.

Inline ``style`` attributes are forbidden by the CSP, so the colours from the town file reach the
browser through a small generated stylesheet. A town may choose colours that fail WCAG AA
contrast; rather than publish unreadable text, derived variables are darkened until they pass.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from inscriptions.town import Town

WHITE = "#ffffff"
BLACK = "#000000"
# WCAG 2.1 AA: 4.5:1 for normal text.
AA_TEXT = 4.5
FALLBACK_ERROR = "#b3261e"


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4


def luminance(colour: str) -> float:
    """Relative luminance of a ``#rrggbb`` colour (WCAG definition)."""
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)


def contrast_ratio(a: str, b: str) -> float:
    """WCAG contrast ratio between two ``#rrggbb`` colours (1 to 21)."""
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def darken_until_readable(colour: str, background: str = WHITE, ratio: float = AA_TEXT) -> str:
    """``colour``, mixed with black just enough to reach ``ratio`` against ``background``."""
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    candidate = colour.lower()
    for _step in range(20):
        if contrast_ratio(candidate, background) >= ratio:
            return candidate
        r, g, b = (int(v * 0.9) for v in (r, g, b))
        candidate = f"#{r:02x}{g:02x}{b:02x}"
    return BLACK


def readable_text_on(background: str, preferred: str) -> str:
    """``preferred`` when it is readable on ``background``, else black or white, whichever is better."""
    if contrast_ratio(preferred, background) >= AA_TEXT:
        return preferred.lower()
    return BLACK if contrast_ratio(BLACK, background) >= contrast_ratio(WHITE, background) else WHITE


@dataclass(frozen=True)
class Theme:
    css: str
    version: str


def build_theme(town: Town) -> Theme:
    """The stylesheet of the town's colours, and a short hash to bust caches when they change."""
    colours = town.colours
    primary = colours.primary.lower()
    header_text = readable_text_on(primary, colours.primary_text)
    accent = colours.accent.lower()
    link = darken_until_readable(primary)
    error = accent if contrast_ratio(accent, WHITE) >= AA_TEXT else FALLBACK_ERROR
    css = (
        "/* Generated from the town file; see inscriptions/site/theme.py. */\n"
        ":root {\n"
        f"  --primary: {primary};\n"
        f"  --primary-text: {header_text};\n"
        f"  --accent: {accent};\n"
        f"  --link: {link};\n"
        f"  --error: {error};\n"
        "}\n"
    )
    version = hashlib.sha256(css.encode()).hexdigest()[:10]
    return Theme(css=css, version=version)
