"""Plain helpers shared by the engine tests (fixtures live in conftest.py)."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any

import yaml

from inscriptions.settings import PROJECT_ROOT

PLUGINS = PROJECT_ROOT / "plugins"

CANTEEN_ANSWERS: dict[str, Any] = {
    "days": ["mon", "tue"],
    "diet": "standard",
    "allergy": "non",
    "rules": "on",
}
POOL_ANSWERS: dict[str, Any] = {"level": "debutant", "specific_care": "non", "rules": "on"}


def read_definition(code: str) -> dict[str, Any]:
    """The demo definition of ``code`` as a plain dict, to copy and change in a test."""
    return yaml.safe_load((PLUGINS / code / "service.yaml").read_text(encoding="utf-8"))


def minimal_definition(code: str = "atelier", prefix: str = "ATL", **overrides: Any) -> dict[str, Any]:
    """A small valid child service, open around the tests' frozen clock (2026-09-15)."""
    data: dict[str, Any] = {
        "code": code,
        "name": f"Atelier {code}",
        "reference_prefix": prefix,
        "audience": "child",
        "opening": "2026-09-01T08:30:00",
        "closing": "2027-06-30T23:59:00",
        "workflow": "automatic",
        "retention_months": 12,
        "pricing": {"kind": "fixed", "amount": "10.00", "unit": "séance"},
        "form": {"pages": [{"title": "Questions", "fields": [
            {"name": "level", "type": "single_choice", "label": "Niveau", "required": True,
             "choices": [{"value": "a", "label": "A"}, {"value": "b", "label": "B"}]},
        ]}]},
    }
    data.update(copy.deepcopy(overrides))
    return data


def write_definition(root: Path, folder: str, content: dict[str, Any] | str) -> Path:
    """Write ``root/folder/service.yaml`` from a dict or raw text; returns its path."""
    (root / folder).mkdir(parents=True, exist_ok=True)
    text = content if isinstance(content, str) else yaml.safe_dump(content, allow_unicode=True, sort_keys=False)
    path = root / folder / "service.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def born(years_before: int, on: dt.date = dt.date(2026, 9, 1)) -> dt.date:
    """A birth date giving ``years_before`` years of age on ``on`` (the demo services' opening)."""
    return on.replace(year=on.year - years_before) - dt.timedelta(days=30)
