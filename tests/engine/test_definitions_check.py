"""Service definition files: the demo ones are valid, broken ones are explained precisely."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from engine_helpers import PLUGINS, minimal_definition, read_definition, write_definition

from inscriptions.cli import main
from inscriptions.definitions.errors import ServiceDefinitionError
from inscriptions.definitions.loader import load_services
from inscriptions.definitions.loader import read_definition as load_file


def test_every_demo_service_is_valid() -> None:
    services, problems = load_services(PLUGINS)
    assert problems == []
    assert {"cantine", "piscine", "cinema", "loisirs"} <= set(services)
    pool = services["piscine"].definition
    assert pool.reference_prefix == "NAT"
    assert pool.workflow == "manual"
    assert pool.pricing.kind == "effort_rate"
    assert len(pool.sessions) == 4
    assert pool.alternatives == 1 and pool.sessions_choice.max == 1  # one slot, and a second choice
    centre = services["loisirs"].definition
    assert (centre.reference_prefix, centre.audience, centre.pricing.kind) == ("LOI", "child", "qf_brackets")
    assert len(centre.sessions) == 8 and {s.capacity for s in centre.sessions} == {24}
    assert (centre.sessions_choice.min, centre.sessions_choice.max, centre.alternatives) == (1, 8, 0)
    assert [w.who for w in centre.priority_windows] == ["residents", "everyone"]
    cinema = services["cinema"].definition
    assert cinema.audience == "household"
    assert cinema.places.sum_of == ["child_seats", "adult_seats"]
    # The cinema's Python rule is found beside its definition.
    assert services["cinema"].hooks.hook.validate_answers.get_hookimpls()


def _fields(data: dict[str, Any], page: int = 0) -> list[dict[str, Any]]:
    return data["form"]["pages"][page]["fields"]


def _canteen(change: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    data = copy.deepcopy(read_definition("cantine"))
    change(data)
    return data


def _swap_brackets(d: dict[str, Any]) -> None:
    brackets = d["pricing"]["brackets"]
    brackets[0], brackets[1] = brackets[1], brackets[0]


# (case, definition of folder "cantine", expected field path, words of the explanation)
BAD_DEFINITIONS = [
    ("unknown field type", _canteen(lambda d: _fields(d)[1].update(type="colour")),
     "form.pages[0].fields[1] (diet)", "unknown type 'colour'"),
    ("missing required setting", _canteen(lambda d: d.pop("workflow")),
     "workflow", "this setting is required"),
    ("misspelt setting", _canteen(lambda d: d.update(retention_month=d.pop("retention_months"))),
     "retention_month", "unknown setting"),
    ("misspelt field setting", _canteen(lambda d: _fields(d)[1].update(requird=True)),
     "form.pages[0].fields[1] (diet).requird", "unknown setting"),
    ("condition on a later field", _canteen(lambda d: _fields(d)[0].update(
        show_if={"field": "diet", "equals": "standard"})),
     "form.pages[0].fields[0] (days).show_if.field", "'diet', which is not an earlier field"),
    ("condition on an unknown field", _canteen(lambda d: _fields(d)[3].update(
        show_if={"field": "alergy", "equals": True})),
     "form.pages[0].fields[3] (pai_details).show_if.field", "'alergy', which is not an earlier field"),
    ("bad choice in a condition", _canteen(lambda d: _fields(d).append(
        {"name": "x", "type": "text", "label": "X", "show_if": {"field": "diet", "equals": "halal"}})),
     "form.pages[0].fields[4] (x).show_if", "'halal' is not a choice of 'diet'"),
    ("equals on a multiple answer", _canteen(lambda d: _fields(d).append(
        {"name": "x", "type": "text", "label": "X", "show_if": {"field": "days", "equals": "mon"}})),
     "form.pages[0].fields[4] (x).show_if", "use 'contains'"),
    ("brackets out of order", _canteen(_swap_brackets),
     "pricing.brackets", "increasing order of max_qf"),
    ("negative price", _canteen(lambda d: d["pricing"]["brackets"][0].update(price="-1")),
     "pricing.brackets[0].price", "greater than or equal to 0"),
    ("min larger than max", _canteen(lambda d: _fields(d).append(
        {"name": "n", "type": "integer", "label": "N", "min": 5, "max": 2})),
     "form.pages[0].fields[4] (n).min", "is larger than max"),
    ("duplicate field names", _canteen(lambda d: _fields(d, 1).append(
        {"name": "diet", "type": "text", "label": "X"})),
     "form.pages[1].fields[2] (diet).name", "'diet' is used twice"),
    ("code is not the folder name", _canteen(lambda d: d.update(code="cantina")),
     "code", "must equal its folder name 'cantine'"),
    ("bad field name", _canteen(lambda d: _fields(d)[1].update(name="Diet")),
     "form.pages[0].fields[1] (Diet).name", "lower-case letters"),
    ("bad date", _canteen(lambda d: d.update(opening="1er juin")),
     "opening", "write it like 2026-09-01T08:30:00"),
    ("closing before opening", _canteen(lambda d: d.update(closing="2026-05-01T00:00:00")),
     "closing", "must be after opening"),
    ("YAML syntax error", "code: cantine\nname: Restauration\npricing: [unclosed\nform: x\n",
     "line 4, column 5", "(while parsing a flow sequence started at line 3)"),
]


@pytest.mark.parametrize(("case", "content", "where", "explanation"), BAD_DEFINITIONS,
                         ids=[c[0] for c in BAD_DEFINITIONS])
def test_bad_definition_is_explained(
    tmp_path: Path, case: str, content: dict[str, Any] | str, where: str, explanation: str
) -> None:
    path = write_definition(tmp_path, "cantine", content)
    services, problems = load_services(tmp_path)
    assert services == {}, case
    matching = [p for p in problems if p.path == where and explanation in p.message]
    assert matching, f"{case}: {[str(p) for p in problems]}"
    assert all(p.file == str(path) for p in problems)
    assert str(matching[0]).startswith(f"{path}: {where}: ")


def test_duplicate_reference_prefix_across_services(tmp_path: Path) -> None:
    write_definition(tmp_path, "atelier", minimal_definition("atelier", "CAN"))
    write_definition(tmp_path, "cantine", read_definition("cantine"))
    services, problems = load_services(tmp_path)
    # Folders load in name order: the second one to claim CAN is the one reported.
    assert list(services) == ["atelier"]
    assert len(problems) == 1
    assert problems[0].file == str(tmp_path / "cantine" / "service.yaml")
    assert problems[0].path == "reference_prefix"
    assert "'CAN' is already used by service 'atelier'" in problems[0].message


HOOK_CASES = [
    ("syntax error", "def validate_answers(:\n    pass\n", "syntax error at line 1"),
    ("import error", "import no_such_module_here\n", "ModuleNotFoundError: No module named 'no_such_module_here'"),
    ("misspelt hook", "from inscriptions.plugin_api import hookimpl\n\n@hookimpl\n"
     "def validate_answer(service, answers, channel):\n    return {}\n", "unknown hook 'validate_answer'"),
    ("wrong argument", "from inscriptions.plugin_api import hookimpl\n\n@hookimpl\n"
     "def validate_answers(service, answer, channel):\n    return {}\n", "Argument(s) {'answer'}"),
]


@pytest.mark.parametrize(("case", "source", "explanation"), HOOK_CASES, ids=[c[0] for c in HOOK_CASES])
def test_broken_hooks_file_is_reported(tmp_path: Path, case: str, source: str, explanation: str) -> None:
    write_definition(tmp_path, "atelier", minimal_definition())
    (tmp_path / "atelier" / "hooks.py").write_text(source)
    services, problems = load_services(tmp_path)
    assert services == {}
    assert len(problems) == 1, case
    assert problems[0].file == str(tmp_path / "atelier" / "hooks.py")
    assert explanation in problems[0].message
    assert "\n" not in str(problems[0])


def test_read_definition_accepts_a_good_file(tmp_path: Path) -> None:
    defn, problems = load_file(write_definition(tmp_path, "atelier", minimal_definition()))
    assert problems == []
    assert defn is not None and defn.code == "atelier"


def test_folder_without_definition_is_reported(tmp_path: Path) -> None:
    (tmp_path / "vide").mkdir()
    (tmp_path / "_notes").mkdir()  # folders starting with _ or . are ignored
    _, problems = load_services(tmp_path)
    assert [(p.file, p.message) for p in problems] == [
        (str(tmp_path / "vide"), "no service.yaml in this service folder"),
    ]


# -- the command line ------------------------------------------------------------------------

def test_cli_check_lists_good_services() -> None:
    result = CliRunner().invoke(main, ["services", "check", str(PLUGINS)])
    assert result.exit_code == 0, result.output
    assert "ok  cantine: Restauration scolaire" in result.stdout
    assert "ok  piscine: École municipale de natation" in result.stdout
    assert "ok  cinema: Ciné-goûter" in result.stdout


def test_cli_check_prints_problems_and_fails(tmp_path: Path) -> None:
    write_definition(tmp_path, "cantine", BAD_DEFINITIONS[0][1])
    write_definition(tmp_path, "atelier", minimal_definition(pricing={"kind": "fixed"}))
    result = CliRunner().invoke(main, ["services", "check", str(tmp_path)])
    assert result.exit_code == 1
    assert f"{tmp_path / 'cantine' / 'service.yaml'}: form.pages[0].fields[1] (diet): unknown type 'colour'" \
        in result.stderr
    assert f"{tmp_path / 'atelier' / 'service.yaml'}: pricing.amount: this setting is required" in result.stderr
    assert "2 problem(s) found." in result.stderr
    assert "ok  " not in result.stdout


def test_cli_check_of_an_empty_folder_fails(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["services", "check", str(tmp_path)])
    assert result.exit_code == 1
    assert "no service found" in result.stderr


def test_app_refuses_to_start_with_one_line_error(make_app: Callable[..., Any], tmp_path: Path) -> None:
    bad = tmp_path / "bad-plugins"
    write_definition(bad, "cantine", BAD_DEFINITIONS[1][1])
    write_definition(bad, "atelier", minimal_definition(workflow="sometimes"))
    with pytest.raises(ServiceDefinitionError) as caught:
        make_app(PLUGINS_DIR=bad)
    message = str(caught.value)
    assert "\n" not in message
    assert str(bad / "atelier" / "service.yaml") in message
    assert "(and 1 more)" in message
    assert "inscriptions services check" in message
    assert len(caught.value.problems) == 2


def test_app_start_error_is_one_line_even_for_hooks(make_app: Callable[..., Any], tmp_path: Path) -> None:
    bad = tmp_path / "bad-plugins"
    write_definition(bad, "atelier", minimal_definition())
    (bad / "atelier" / "hooks.py").write_text(HOOK_CASES[3][1])
    with pytest.raises(ServiceDefinitionError) as caught:
        make_app(PLUGINS_DIR=bad)
    assert "\n" not in str(caught.value)
    assert str(bad / "atelier" / "hooks.py") in str(caught.value)
