"""The README's tutorial service must stay true: it is copied into a plugins folder and used."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from inscriptions.definitions.loader import read_definition
from inscriptions.definitions.registry import current_version, registry
from inscriptions.settings import PROJECT_ROOT


def tutorial_yaml() -> str:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"```yaml\n(# plugins/theatre/service.yaml\n.*?)```", readme, re.S)
    assert match, "the README no longer contains the theatre tutorial"
    return match.group(1)


def install_tutorial(tmp_path: Path) -> Path:
    plugins = tmp_path / "plugins"
    shutil.copytree(PROJECT_ROOT / "plugins", plugins)
    (plugins / "theatre").mkdir()
    (plugins / "theatre" / "service.yaml").write_text(tutorial_yaml(), encoding="utf-8")
    return plugins


def test_tutorial_definition_is_valid(tmp_path):
    plugins = install_tutorial(tmp_path)
    defn, problems = read_definition(plugins / "theatre" / "service.yaml")
    assert problems == []
    assert defn.code == "theatre" and len(defn.sessions) == 2


def test_tutorial_service_is_served(make_app, tmp_path):
    app = make_app(PLUGINS_DIR=install_tutorial(tmp_path))
    with app.app_context():
        service = registry().get("theatre")
        assert service is not None
        assert current_version(service).version == 1
    page = app.test_client().get("/")
    assert "Atelier théâtre du mercredi" in page.get_data(as_text=True)
