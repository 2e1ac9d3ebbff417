"""Fixtures of the scan reader tests: form versions of test definitions, printed and scanned."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from flask import Flask

# The paper tests' definition using every field type is reused from there.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "paper"))

from reader_helpers import make_version

from inscriptions.models import FormVersion


@pytest.fixture
def every_version(app: Flask) -> FormVersion:
    """Version 1 of a child service asking every field type (sessions included)."""
    from paper_helpers import EVERY_TYPE

    return make_version(EVERY_TYPE, 1)


@pytest.fixture
def canteen_version(app: Flask) -> FormVersion:
    from inscriptions.definitions.registry import current_version, registry
    from inscriptions.extensions import db
    from inscriptions.paper.layout import layout_for

    version = current_version(registry().get("cantine"))
    layout_for(version)
    db.session.commit()
    return version
