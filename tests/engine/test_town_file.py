"""The town file: a broken one stops the app with a one-line reason naming the file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from inscriptions.settings import PROJECT_ROOT
from inscriptions.town import TownConfigError, load_town

TOWN = PROJECT_ROOT / "town" / "town.yaml"


def test_demo_town_file_is_valid() -> None:
    town = load_town(TOWN)
    assert town.name == "Villebelle"
    assert town.is_resident("villebelle", "99990")
    assert town.is_resident("Villebelle", "99990")
    assert not town.is_resident("Villebelle", "75011")
    assert not town.is_resident("Paris", "99990")
    assert not town.is_resident("", "")


@pytest.mark.parametrize(("content", "expected"), [
    ("name: Villebelle\ncontact: [unclosed\n", "line 3, column 1: not valid YAML"),
    ("name: Villebelle\n", "contact: this setting is required"),
    (TOWN.read_text(encoding="utf-8").replace('primary: "#1d4e89"', 'primary: blue'), "must be a colour"),
])
def test_broken_town_file_gives_one_line(tmp_path: Path, make_app: Callable[..., Any], content: str,
                                         expected: str) -> None:
    path = tmp_path / "town.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(TownConfigError) as caught:
        make_app(TOWN_FILE=path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert expected in message
    assert "\n" not in message
