"""Fixtures for the engine tests: service definitions in temporary plugin folders, bookings."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from engine_helpers import PLUGINS, write_definition
from flask import Flask

from inscriptions.definitions.registry import init_registry
from inscriptions.registrations.create import (
    ParticipantInput,
    RegistrationInput,
    RegistrationOutcome,
    create_registrations,
)


@pytest.fixture
def plugins_dir(tmp_path: Path) -> Callable[..., Path]:
    """Write definitions (dicts or raw YAML text) and hooks into a fresh plugins folder.

    ``plugins_dir({"code": definition, ...}, hooks={"code": "python source"}, copy_demo=True)``
    """
    counter = {"n": 0}

    def write(
        definitions: Mapping[str, dict[str, Any] | str] | None = None,
        *,
        hooks: Mapping[str, str] | None = None,
        copy_demo: bool = False,
    ) -> Path:
        counter["n"] += 1
        root = tmp_path / f"plugins{counter['n']}"
        if copy_demo:
            shutil.copytree(PLUGINS, root, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            root.mkdir()
        for folder, content in (definitions or {}).items():
            write_definition(root, folder, content)
        for folder, source in (hooks or {}).items():
            (root / folder).mkdir(exist_ok=True)
            (root / folder / "hooks.py").write_text(source, encoding="utf-8")
        return root

    return write


@pytest.fixture
def use_plugins(app: Flask) -> Callable[[Path], None]:
    """Reload the running app's services from another folder (as a restart would)."""

    def load(root: Path) -> None:
        app.config["PLUGINS_DIR"] = root
        init_registry(app)

    return load


@pytest.fixture
def book() -> Callable[..., RegistrationOutcome]:
    """Call the one creation function with short arguments."""

    def do_book(
        service: str,
        household: Any,
        *,
        children: list[Any] | None = None,
        answers: Mapping[str, Any] | None = None,
        channel: str = "web",
        session: str | None = None,
        per_child: Mapping[int, Mapping[str, Any]] | None = None,
        **extra: Any,
    ) -> RegistrationOutcome:
        base = dict(answers or {})
        if children is None:
            participants = [ParticipantInput(answers=base)]
        else:
            participants = [
                ParticipantInput(child_id=c.id, answers={**base, **(per_child or {}).get(c.id, {})})
                for c in children
            ]
        return create_registrations(RegistrationInput(
            service_code=service,
            household_id=household.id,
            participants=participants,
            channel=channel,
            session_code=session,
            **extra,
        ))

    return do_book


@pytest.fixture
def outbox(app: Flask) -> list[Any]:
    """E-mails sent through the locmem backend (Flask-Mailman keeps them on its state)."""
    state = app.extensions["mailman"]
    state.outbox = []
    return state.outbox
