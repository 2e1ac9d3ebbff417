"""Fonts of printed documents: the PDF standard Helvetica family, nothing to install or embed.

ReportLab writes the standard fonts with the Windows-1252 encoding, which covers French fully
(é è à ç ù ô ï, œ Œ, « », ’, –, —, …, €). Characters outside it (a narrow no-break space typed
before « : », typographic symbols) are mapped to a close character by :func:`pdf_text` instead of
printing a black box. No font file is bundled or needed, so PDFs stay small and fast to make on a
fresh machine.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

from reportlab.pdfbase.pdfmetrics import stringWidth

REGULAR = "Helvetica"
BOLD = "Helvetica-Bold"
ITALIC = "Helvetica-Oblique"
FONTS = {"regular": REGULAR, "bold": BOLD, "italic": ITALIC}
ENCODING = "cp1252"
MM_PER_PT = 25.4 / 72

_REPLACEMENTS = {
    "\u202f": "\u00a0",  # narrow no-break space (French typography)
    "\u2009": " ",
    "\u200b": "",
    "\u2010": "-",
    "\u2011": "-",
    "\u2212": "-",
    "\u2713": "x",
    "\u2714": "x",
    "\u2717": "x",
    "\u2192": "->",
    # Letters whose accent is not a combining mark (NFKD leaves them whole).
    "Ł": "L",
    "ł": "l",
    "Đ": "D",
    "đ": "d",
    "ı": "i",
}


def _printable(char: str) -> str:
    try:
        char.encode(ENCODING)
        return char
    except UnicodeEncodeError:
        pass
    if char in _REPLACEMENTS:
        return _REPLACEMENTS[char]
    # A letter with an accent the encoding lacks (ł, ğ, ș...): print its base letter.
    base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
    try:
        base.encode(ENCODING)
        return base
    except UnicodeEncodeError:
        return "?"


def pdf_text(text: str) -> str:
    """``text`` made printable in the standard fonts (unchanged for ordinary French)."""
    try:
        text.encode(ENCODING)
        return text
    except UnicodeEncodeError:
        return "".join(_printable(c) for c in text)


@lru_cache(maxsize=4096)
def width_mm(text: str, style: str, size: float) -> float:
    """Printed width of ``text`` in millimetres."""
    return stringWidth(text, FONTS[style], size) * MM_PER_PT


def wrap(text: str, style: str, size: float, width: float) -> list[str]:
    """Split ``text`` into lines no wider than ``width`` mm (greedy; a too-long word is cut)."""
    lines: list[str] = []
    for paragraph in pdf_text(text).splitlines() or [""]:
        words = paragraph.split()
        line = ""
        for word in words:
            candidate = f"{line} {word}" if line else word
            if width_mm(candidate, style, size) <= width:
                line = candidate
                continue
            if line:
                lines.append(line)
            # A single word wider than the line (a URL...): cut it.
            while width_mm(word, style, size) > width and len(word) > 1:
                cut = len(word)
                while cut > 1 and width_mm(word[:cut], style, size) > width:
                    cut -= 1
                lines.append(word[:cut])
                word = word[cut:]
            line = word
        lines.append(line)
    return lines
