"""Small jobs for the tests, importable by path (``jobs_samples:record``) like real jobs."""

from __future__ import annotations

from typing import Any

from flask import current_app

calls: list[Any] = []


def record(*args: Any) -> str:
    """Remember the arguments and which application ran the job."""
    calls.append((args, current_app.name))
    return "done"


def boom(*args: Any) -> None:
    """Fail every time (a mail server that stays down)."""
    calls.append(("boom", args))
    raise RuntimeError("mail server down")
