"""Form versions: a definition is frozen once; editing it makes a new version, old registrations keep theirs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from engine_helpers import CANTEEN_ANSWERS, POOL_ANSWERS, born, read_definition, write_definition
from sqlalchemy import func, select

from inscriptions.definitions.registry import current_version, definition_of, registry, sync_all
from inscriptions.extensions import db
from inscriptions.forms.validation import validate_answers
from inscriptions.models import FormVersion, Registration, ServiceSession
from inscriptions.privacy.sealing import unsealed
from inscriptions.registrations.create import RegistrationRefused


def versions(code: str) -> list[int]:
    return list(db.session.scalars(select(FormVersion.version).filter_by(service_code=code).order_by(FormVersion.id)))


def test_same_definition_gives_the_same_version(app: Any, make_app: Callable[..., Any]) -> None:
    service = registry().get("cantine")
    first = current_version(service)
    db.session.commit()
    assert current_version(service).id == first.id
    demo = {"cantine": 1, "piscine": 1, "cinema": 1, "loisirs": 1}
    assert {v.service_code: v.version for v in sync_all()} == demo
    assert {v.service_code: v.version for v in sync_all()} == demo
    # A restart reads the same files: still the same rows.
    with make_app().app_context():
        assert current_version(registry().get("cantine")).id == first.id
    assert db.session.scalar(select(func.count()).select_from(FormVersion)) == 4


def test_sessions_are_recorded_with_the_version(app: Any) -> None:
    sync_all()
    rows = db.session.scalars(select(ServiceSession).filter_by(service_code="piscine").order_by(ServiceSession.code))
    summary = [(r.code, r.capacity, r.starts_at.isoformat()) for r in rows]
    # Naive local times of the file are stored in UTC (Paris is UTC+1 in January).
    assert summary[0] == ("mer-14h", 8, "2027-01-06T13:00:00")
    assert len(summary) == 4


def test_comments_and_layout_do_not_make_a_new_version(
    app: Any, plugins_dir: Callable[..., Path], use_plugins: Callable[[Path], None]
) -> None:
    root = plugins_dir(copy_demo=True)
    use_plugins(root)
    sync_all()
    path = root / "cantine" / "service.yaml"
    path.write_text("# A new comment\n" + path.read_text(encoding="utf-8").replace("pricing:", "pricing:   "))
    use_plugins(root)
    sync_all()
    assert versions("cantine") == [1]


def _edited_canteen() -> dict[str, Any]:
    data = read_definition("cantine")
    page = data["form"]["pages"][0]
    diet = next(f for f in page["fields"] if f["name"] == "diet")
    diet["choices"] = [c for c in diet["choices"] if c["value"] != "sans_gluten"]
    page["fields"].append({"name": "snack", "type": "yes_no", "label": "Goûter", "required": True})
    return data


def test_editing_the_definition_makes_version_2(
    app: Any, make_household: Callable[..., Any], book: Callable[..., Any],
    plugins_dir: Callable[..., Path], use_plugins: Callable[[Path], None],
) -> None:
    root = plugins_dir(copy_demo=True)
    use_plugins(root)
    household = make_household(children=[("Léa", born(7)), ("Hugo", born(9))])
    lea, hugo = sorted(household.children, key=lambda c: c.first_name)
    book("cantine", household, children=[lea], answers={**CANTEEN_ANSWERS, "diet": "sans_gluten"})
    old = db.session.scalar(select(Registration))
    assert old.form_version.version == 1

    write_definition(root, "cantine", _edited_canteen())
    use_plugins(root)  # what a restart after the edit does
    assert [v.version for v in sync_all() if v.service_code == "cantine"] == [2]
    assert versions("cantine") == [1, 2]

    # The old registration still points to version 1 and reads correctly with it.
    db.session.refresh(old)
    assert old.form_version.version == 1
    v1 = definition_of(old.form_version)
    assert "sans_gluten" in [c.value for c in v1.field("diet").choices]
    assert validate_answers(v1, unsealed(old.answers), channel="web").ok
    current = registry().get("cantine").definition
    assert not validate_answers(current, unsealed(old.answers), channel="web").ok  # the choice is gone in v2

    # New registrations use version 2 and its new question.
    with pytest.raises(RegistrationRefused) as refused:
        book("cantine", household, children=[hugo], answers=CANTEEN_ANSWERS)
    assert "snack" in refused.value.errors[f"child:{hugo.id}"]
    book("cantine", household, children=[hugo], answers={**CANTEEN_ANSWERS, "snack": "oui"})
    new = db.session.scalar(select(Registration).filter_by(child_id=hugo.id))
    assert new.form_version.version == 2
    assert unsealed(new.answers)["snack"] is True


def test_form_started_on_version_1_is_validated_with_it(
    app: Any, make_household: Callable[..., Any], book: Callable[..., Any],
    plugins_dir: Callable[..., Path], use_plugins: Callable[[Path], None],
) -> None:
    root = plugins_dir(copy_demo=True)
    use_plugins(root)
    v1 = current_version(registry().get("cantine"))
    db.session.commit()
    write_definition(root, "cantine", _edited_canteen())
    use_plugins(root)
    household = make_household()
    # A family who started on version 1 submits version 1's answers (no "snack" question).
    book("cantine", household, children=household.children, answers={**CANTEEN_ANSWERS, "diet": "sans_gluten"},
         form_version_id=v1.id)
    reg = db.session.scalar(select(Registration))
    assert reg.form_version_id == v1.id
    assert unsealed(reg.answers)["diet"] == "sans_gluten"


def test_closing_date_of_the_current_definition_applies_to_older_forms(
    app: Any, make_household: Callable[..., Any], book: Callable[..., Any],
    plugins_dir: Callable[..., Path], use_plugins: Callable[[Path], None],
) -> None:
    root = plugins_dir(copy_demo=True)
    use_plugins(root)
    v1 = current_version(registry().get("cantine"))
    db.session.commit()
    # The town closes registrations early (the frozen clock is 2026-09-15).
    write_definition(root, "cantine", {**read_definition("cantine"), "closing": "2026-09-10T18:00:00"})
    use_plugins(root)
    household = make_household()
    with pytest.raises(RegistrationRefused, match="ne sont pas ouvertes"):
        book("cantine", household, children=household.children, answers=CANTEEN_ANSWERS, form_version_id=v1.id)


def test_session_capacity_follows_the_file_even_when_reverted(
    app: Any, make_household: Callable[..., Any], book: Callable[..., Any],
    plugins_dir: Callable[..., Path], use_plugins: Callable[[Path], None],
) -> None:
    root = plugins_dir(copy_demo=True)
    original = (root / "piscine" / "service.yaml").read_text(encoding="utf-8")

    def capacity() -> int:
        db.session.expire_all()
        return db.session.scalar(select(ServiceSession.capacity).filter_by(service_code="piscine", code="mer-14h"))

    use_plugins(root)
    sync_all()
    assert capacity() == 8
    data = yaml.safe_load(original)
    data["sessions"][0]["capacity"] = 1
    write_definition(root, "piscine", data)
    use_plugins(root)
    sync_all()
    assert capacity() == 1
    (root / "piscine" / "service.yaml").write_text(original, encoding="utf-8")
    use_plugins(root)
    # Back to version 1 (same content): its capacity comes back too, also through a booking.
    household = make_household(children=[("Jules", born(8))])
    book("piscine", household, children=household.children, answers=POOL_ANSWERS, session="mer-14h")
    assert capacity() == 8
    assert versions("piscine") == [1, 2]
    assert db.session.scalar(select(Registration)).form_version.version == 1


@pytest.mark.parametrize("code", ["cantine", "piscine", "cinema", "loisirs"])
def test_frozen_definition_reads_back_identical(app: Any, code: str) -> None:
    # What a form version stores (JSON) must give back the very same definition.
    service = registry().get(code)
    version = current_version(service)
    db.session.commit()
    assert definition_of(version) == service.definition
    assert definition_of(version).model_dump() == service.definition.model_dump()
