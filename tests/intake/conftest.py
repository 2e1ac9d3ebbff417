"""Fixtures of the scan intake tests: canteen forms printed, filled and scanned. Staff accounts and
log-ins (``staff``, ``login_as``, ``agent``) are the shared fixtures of tests/conftest.py.

CSRF is off here (one test turns it back on): the other tests post data directly.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from flask import Flask
from sqlalchemy import select

from inscriptions.definitions.registry import current_version, registry
from inscriptions.extensions import db
from inscriptions.models import FormVersion, Household, PrintToken
from inscriptions.paper.layout import layout_for
from inscriptions.paper.reader import simulate as sim


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Iterator[Flask]:
    application = make_app(WTF_CSRF_ENABLED=False)
    with application.app_context():
        yield application


@pytest.fixture
def canteen_version(app: Flask) -> FormVersion:
    version = current_version(registry().get("cantine"))
    layout_for(version)
    db.session.commit()
    return version


@pytest.fixture
def family(make_household: Callable[..., Household]) -> Household:
    household = make_household(last_name="Durand", children=[("Léo", dt.date(2018, 5, 2))])
    db.session.commit()
    return household


MARKED: dict[str, Any] = {"days": ["mon", "thu"], "diet": "sans_porc", "allergy": False, "rules": True}


@pytest.fixture
def scanned_form(canteen_version: FormVersion, family: Household) -> Callable[..., list[sim.SimPage]]:
    """A canteen form prefilled for ``family``'s child, ticked as :data:`MARKED` (or ``answers``),
    scanned (PNG pages)."""

    def make(seed: int = 1, answers: dict[str, Any] | None = None) -> list[sim.SimPage]:
        rng = np.random.default_rng(seed)
        ticked = dict(MARKED if answers is None else answers)
        pages, _answers = sim.filled_documents(canteen_version, 1, rng, answers=[ticked],
                                               settings=lambda _r: sim.ScanSettings(dpi=200, jpeg=None),
                                               styles={"cross": 1.0}, smudges=0.0)
        row = db.session.scalar(select(PrintToken).filter_by(token=pages[0].token))
        row.household_id = family.id
        row.child_id = family.children[0].id
        db.session.commit()
        return pages

    return make
