"""Plain helpers shared by test folders that write small services to a temporary plugins folder
(back office, waiting list). ``tests/`` is on ``sys.path`` (rootdir conftest, prepend import mode),
so folders import this module by name and re-export what their tests use.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from inscriptions.extensions import db
from inscriptions.models import Registration


def small_service(code: str, prefix: str, *, workflow: Any, fields: list[dict[str, Any]],
                  **overrides: Any) -> dict[str, Any]:
    """A small child service with two sessions (``s1``, ``s2``), open around the frozen clock.

    ``workflow`` and the form's ``fields`` (one page) are the folder's defaults; ``overrides``
    replace top-level keys (copied, so the caller's values are never shared).
    """
    data: dict[str, Any] = {
        "code": code,
        "name": f"Service {code}",
        "reference_prefix": prefix,
        "audience": "child",
        "opening": "2026-09-01T08:30:00",
        "closing": "2027-06-30T23:59:00",
        "workflow": copy.deepcopy(workflow),
        "retention_months": 12,
        "pricing": {"kind": "fixed", "amount": "10.00", "unit": "stage"},
        "sessions": [
            {"code": "s1", "label": "Stage d'octobre", "starts_at": "2026-10-01T10:00:00", "capacity": 2},
            {"code": "s2", "label": "Stage de novembre", "starts_at": "2026-11-02T10:00:00", "capacity": 3},
        ],
        "form": {"pages": [{"title": "Questions", "fields": copy.deepcopy(fields)}]},
    }
    data.update(copy.deepcopy(overrides))
    return data


def write_services(root: Path, services: dict[str, dict[str, Any]]) -> Path:
    """Write each definition to ``root/<code>/service.yaml``; returns ``root`` (the plugins folder)."""
    for code, data in services.items():
        (root / code).mkdir(parents=True, exist_ok=True)
        (root / code / "service.yaml").write_text(
            yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8"
        )
    return root


def fresh(registration_id: int) -> Registration:
    """The registration as the database has it now."""
    db.session.expire_all()
    reg = db.session.get(Registration, registration_id)
    assert reg is not None
    return reg
