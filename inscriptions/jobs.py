"""Slow work (e-mails, documents) runs after the transaction that caused it, never inside it.

Jobs are named by import path (``"package.module:function"``) with JSON-able arguments so the
same call can later go to a queue worker. The embedded default runs them in-process right after
the commit; a failing job is logged and never undoes the saved registration.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from flask import current_app

log = logging.getLogger(__name__)


def resolve(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def enqueue(path: str, *args: Any) -> None:
    """Run (or queue) the job ``path`` with ``args``; call only after the commit."""
    func = resolve(path)
    if current_app.config.get("JOBS_EAGER_RAISE"):
        func(*args)
        return
    try:
        func(*args)
    except Exception:
        log.exception("job %s%r failed", path, args)
