"""Plain helpers of the reports tests (fixtures live in conftest.py)."""

from __future__ import annotations

import csv
import io
from typing import Any

# Raw answers as a family gives them (plugins/cantine and plugins/piscine service.yaml).
CANTEEN: dict[str, Any] = {"days": ["mon", "tue"], "diet": "standard", "allergy": "non", "rules": "on"}
POOL: dict[str, Any] = {"level": "debutant", "specific_care": "non", "rules": "on"}


def read_csv(data: bytes) -> list[dict[str, str]]:
    """A CSV export parsed back: it must start with the UTF-8 BOM and use ';'."""
    assert data.startswith(b"\xef\xbb\xbf"), "no byte order mark: French Excel would garble accents"
    text = data.decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text, newline=""), delimiter=";"))
