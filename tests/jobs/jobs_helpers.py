"""Plain helpers for the job tests."""

from __future__ import annotations

from flask import Flask

from inscriptions.jobs import make_worker


def run_worker(app: Flask) -> bool:
    """Run a real RQ worker for ``app`` until its queue is empty; True if it ran any job."""
    return make_worker(app).work(burst=True, logging_level="WARNING")
