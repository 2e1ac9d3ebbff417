"""Fixtures of the API tests: tokens, a JSON client, test services. Staff accounts with grants
come from the shared ``staff`` fixture of tests/conftest.py.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from api_helpers import atelier_definition
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from inscriptions.api.tokens import issue_token
from inscriptions.definitions.registry import init_registry
from inscriptions.extensions import db
from inscriptions.models import Account, Household
from inscriptions.settings import PROJECT_ROOT


@pytest.fixture
def api(client: FlaskClient) -> Callable[..., TestResponse]:
    """``api("POST", "/registrations", token, json={...})``: a call to ``/api/v1`` with a bearer token."""

    def call(method: str, path: str, token: str | None = None, **kwargs: Any) -> TestResponse:
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return client.open(f"/api/v1{path}", method=method, headers=headers, **kwargs)

    return call


@pytest.fixture
def token_for(app: Flask) -> Callable[[Account], str]:
    return lambda account: issue_token(account, "tests")


@pytest.fixture
def parent_token(app: Flask, token_for: Callable[[Account], str]) -> Callable[[Household], str]:
    """A token of the account of ``household``'s first guardian."""

    def make(household: Household) -> str:
        account = db.session.scalar(db.select(Account).filter_by(guardian_id=household.guardians[0].id))
        assert account is not None
        return token_for(account)

    return make


@pytest.fixture
def with_atelier(app: Flask, tmp_path: Path) -> Callable[..., None]:
    """Serve the demo services plus ``atelier`` (see :func:`atelier_definition`)."""

    def install(**options: Any) -> None:
        root = tmp_path / "plugins"
        if not root.exists():
            shutil.copytree(PROJECT_ROOT / "plugins", root, ignore=shutil.ignore_patterns("__pycache__"))
        (root / "atelier").mkdir(exist_ok=True)
        (root / "atelier" / "service.yaml").write_text(
            yaml.safe_dump(atelier_definition(**options), allow_unicode=True), encoding="utf-8")
        app.config["PLUGINS_DIR"] = root
        init_registry(app)

    return install
