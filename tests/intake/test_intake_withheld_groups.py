"""Sensitive sub-answers of a group read on a scan: hidden from an agent without the permission,
put back on confirmation by row (the form drops blank rows, the rows read keep their index).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, render_template_string
from service_helpers import small_service, write_services
from werkzeug.datastructures import MultiDict

from inscriptions.definitions.registry import current_version, registry
from inscriptions.intake.views import ScanEntry, withhold_sensitive
from inscriptions.models import Household
from inscriptions.settings import PROJECT_ROOT

FIELDS: list[dict[str, Any]] = [
    {"name": "asthma", "type": "yes_no", "label": "Asthme", "sensitive": True},
    {"name": "diet", "type": "single_choice", "label": "Régime",
     "choices": [{"value": "standard", "label": "Standard"}, {"value": "sans_porc", "label": "Sans porc"}]},
    {"name": "people", "type": "group", "label": "Personnes", "max_items": 3, "fields": [
        {"name": "name", "type": "text", "label": "Nom"},
        {"name": "allergic", "type": "yes_no", "label": "Allergique", "sensitive": True},
    ]},
]
# What the reader gives: raw answers, groups as max_items rows, handwriting as None.
READ: dict[str, Any] = {
    "asthma": "yes", "diet": "sans_porc",
    "people": [{"name": None, "allergic": "yes"}, {"name": None, "allergic": None}, {"name": None, "allergic": "no"}],
}


@pytest.fixture
def app(make_app: Callable[..., Flask], tmp_path: Path) -> Iterator[Flask]:
    folder = tmp_path / "plugins"
    shutil.copytree(PROJECT_ROOT / "plugins" / "cantine", folder / "cantine")
    write_services(folder, {"groupes": small_service("groupes", "GRP", workflow="automatic", fields=FIELDS,
                                                     audience="household", sessions=[])})
    application = make_app(WTF_CSRF_ENABLED=False, PLUGINS_DIR=folder)
    with application.app_context():
        yield application


def _entry(household: Household, formdata: MultiDict | None = None) -> ScanEntry:  # type: ignore[type-arg]
    """The scan entry of READ for an agent without the permission, as intake.views.document builds it."""
    service = registry().get("groupes")
    shown, withheld = withhold_sensitive(service.definition, READ)
    return ScanEntry(service, current_version(service), household, [], "paper", formdata=formdata,
                     prefill=shown, withheld=withheld)


def test_withhold_sensitive_splits_top_level_fields_and_group_sub_fields(app: Flask) -> None:
    defn = registry().get("groupes").definition
    shown, withheld = withhold_sensitive(defn, READ)
    assert shown == {"diet": "sans_porc", "people": [{"name": None}, {"name": None}, {"name": None}]}
    assert withheld == {"asthma": "yes", "people": [{"allergic": "yes"}, {}, {"allergic": "no"}]}
    # Nothing read, nothing withheld (the field is then shown, empty, like any other).
    assert withhold_sensitive(defn, {"asthma": None, "diet": "standard"})[1] == {}


def test_withheld_values_are_merged_into_the_answers_typed(
    app: Flask, make_household: Callable[..., Household]
) -> None:
    # The agent typed row 0's name, left row 1 blank and typed row 2's name; values posted for
    # the hidden answers (a crafted request: the page shows notes, no inputs) are ignored.
    posted = MultiDict([("diet", "sans_porc"), ("people-0-name", "Jeanne"), ("people-1-name", ""),
                        ("people-2-name", "Paul"), ("people-2-allergic", "yes"), ("asthma", "no")])
    entry = _entry(make_household(), posted)
    assert entry.hidden_names == {"asthma"}
    assert entry.collect(None) == {}
    (answers,) = [p.answers for p in entry.inputs()]
    assert answers["asthma"] == "yes"
    assert answers["people"] == [{"name": "Jeanne", "allergic": "yes"}, {"name": "Paul", "allergic": "no"}]
    # The form itself does not keep the values read (a page shown again does not show them).
    assert entry.shared_form["people"].entries[0].form["allergic"].data in (None, "")


def test_entry_form_prefilled_without_the_sensitive_values(
    app: Flask, make_household: Callable[..., Household]
) -> None:
    entry = _entry(make_household())
    assert entry.shared_form["diet"].data == "sans_porc"
    assert entry.shared_form["asthma"].data in (None, "")
    assert all(e.form["allergic"].data in (None, "") for e in entry.shared_form["people"].entries)


def test_withheld_sub_answers_show_a_note_in_their_row_and_no_input(
    app: Flask, make_household: Callable[..., Household]
) -> None:
    entry = _entry(make_household())
    assert entry.withheld_rows == {"people": [{"allergic": "yes"}, {}, {"allergic": "no"}]}
    def render_field(*args: Any) -> str:
        # As intake/document.html does, in one of the intake's pages (its template helpers).
        with app.test_request_context("/guichet/numerisation/"):
            return render_template_string(
                '{% import "portal/_fields.html" as f with context %}{{ f.render_field(*args) }}', args=args)

    html = render_field(entry.shared_form["people"], {}, entry.withheld_rows["people"])
    # Rows 1 and 3 had an answer read: a note, no input, and the value is nowhere in the page.
    assert 'name="people-0-allergic"' not in html and 'name="people-2-allergic"' not in html
    assert 'id="people-0-allergic-field"' in html and 'id="people-2-allergic-field"' in html
    assert html.count("field--withheld") == 2
    # Row 2 had nothing read: its input is there, like any other; the names are inputs everywhere.
    assert 'name="people-1-allergic"' in html
    assert all(f'name="people-{i}-name"' in html for i in range(3))
    # Without withheld rows (an agent with the permission), every input is shown.
    plain = render_field(entry.shared_form["people"], {})
    assert "field--withheld" not in plain and 'name="people-0-allergic"' in plain
