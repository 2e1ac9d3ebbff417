"""The ``workflow`` section of a definition: its validation, and the timed moves of
``inscriptions workflow run`` under the frozen clock."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml
from backoffice_helpers import SERVICES, WORKFLOW, fresh, service

from inscriptions.backoffice.workflow import run_automatic
from inscriptions.definitions.loader import definition_hash, read_definition
from inscriptions.definitions.schema import ENGINE_MOVES, ServiceDefinition
from inscriptions.extensions import db
from inscriptions.models import AuditEvent, Registration, Status
from inscriptions.registrations.status import TRANSITIONS
from inscriptions.settings import PROJECT_ROOT


def _pending(client, staff, login_as, reg_id: int) -> None:  # type: ignore[no-untyped-def]
    login_as(staff("agent", "revue"))
    reference = db.session.get(Registration, reg_id).reference
    client.post(f"/gestion/revue/inscriptions/{reference}/statut", data={"to": "pending_documents"})
    assert fresh(reg_id).status == "pending_documents"


def test_timed_move_after_the_delay_and_idempotent(
    client, make_household, book, staff, login_as, frozen_clock, outbox
) -> None:  # type: ignore[no-untyped-def]
    reg_id = book(make_household()).registration_ids[0]
    _pending(client, staff, login_as, reg_id)  # at 2026-09-15 08:00 UTC
    outbox.clear()

    frozen_clock(dt.datetime(2026, 9, 22, 7, 59, tzinfo=dt.UTC))
    assert run_automatic().moved == []
    assert fresh(reg_id).status == "pending_documents"

    frozen_clock(dt.datetime(2026, 9, 22, 8, 0, tzinfo=dt.UTC))
    summary = run_automatic()
    assert summary.moved == [fresh(reg_id).reference]
    reg = fresh(reg_id)
    assert reg.status == Status.CANCELLED
    assert reg.history[-1].by_id is None and reg.history[-1].reason
    event = db.session.scalar(db.select(AuditEvent).filter_by(action="change_status", actor_account_id=None))
    assert event is not None and event.detail["automatic"] is True and event.registration_id == reg_id
    assert len(outbox) == 1

    # Run again (cron every hour): nothing more happens.
    assert run_automatic().moved == []
    assert len(fresh(reg_id).history) == 3
    assert len(outbox) == 1


def test_the_cli_command(client, make_household, book, staff, login_as, frozen_clock, runner) -> None:  # type: ignore[no-untyped-def]
    reg_id = book(make_household()).registration_ids[0]
    _pending(client, staff, login_as, reg_id)
    frozen_clock(dt.datetime(2026, 9, 30, 8, 0, tzinfo=dt.UTC))
    result = runner.invoke(args=["workflow", "run"])
    assert result.exit_code == 0, result.output
    assert "moved: 1 registration(s)" in result.output
    assert fresh(reg_id).status == Status.CANCELLED
    result = runner.invoke(args=["workflow", "run"])
    assert "moved: 0 registration(s)" in result.output


def test_a_timed_cancellation_frees_the_place_for_the_waiting_list(
    client, make_household, book, staff, login_as, frozen_clock
) -> None:  # type: ignore[no-untyped-def]
    first = book(make_household()).registration_ids[0]
    book(make_household())
    waiting = book(make_household()).registration_ids[0]
    _pending(client, staff, login_as, first)
    frozen_clock(dt.datetime(2026, 9, 23, 8, 0, tzinfo=dt.UTC))
    run_automatic()
    assert fresh(first).status == Status.CANCELLED
    assert fresh(waiting).status == Status.OFFERED


# -- definitions ------------------------------------------------------------------------------------

def _problems(tmp_path: Path, workflow: Any) -> list[str]:
    data = service("revue", "REV", workflow=workflow)
    folder = tmp_path / "revue"
    folder.mkdir(exist_ok=True)
    path = folder / "service.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    defn, problems = read_definition(path)
    assert defn is None
    return [f"{p.path}: {p.message}" for p in problems]


def _workflow(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(WORKFLOW)
    data.update(changes)
    return data


@pytest.mark.parametrize(("workflow", "expected"), [
    (_workflow(mode="sometimes"), "workflow: must be one of"),
    ({"statuses": []}, "workflow: this setting is required"),
    (_workflow(colour="blue"), "workflow.colour: unknown setting"),
    (_workflow(statuses=[{"code": "accepted", "label": "Acceptée"}]),
     "workflow.statuses[0].code: 'accepted' is a status of the engine"),
    (_workflow(statuses=[{"code": "Pièces", "label": "x"}]), "workflow.statuses[0].code: 'Pièces' is not allowed"),
    (_workflow(transitions=[{"from": "submitted", "to": ["validated"], "roles": ["agent"]}]),
     "workflow.transitions[0].to[0]: unknown status 'validated'"),
    (_workflow(transitions=[{"from": "rejected", "to": ["accepted"], "roles": ["agent"]}]),
     "workflow.transitions[0].to[0]: the engine never moves a registration from 'rejected' to 'accepted'"),
    (_workflow(transitions=[{"from": "waitlisted", "to": ["offered"], "roles": ["agent"]}]),
     "workflow.transitions[0].to[0]: places are offered by the waiting list"),
    (_workflow(transitions=[{"from": "submitted", "to": ["accepted"], "roles": ["mayor"]}]),
     "workflow.transitions[0].roles[0]: must be one of"),
    (_workflow(automatic=[{"from": "pending_documents", "to": "cancelled"}]),
     "workflow.automatic[0]: give exactly one of 'after_days' or 'after_hours'"),
    (_workflow(automatic=[{"from": "accepted", "to": "cancelled", "after_days": 3}]),
     "workflow.automatic[0].from: 'accepted' is not a status registrations wait in"),
    (_workflow(automatic=[{"from": "pending_documents", "to": "lost", "after_days": 3}]),
     "workflow.automatic[0].to: unknown status 'lost'"),
    (_workflow(queue_filters=["health"]), "workflow.queue_filters[0]: 'health' is sensitive"),
    (_workflow(queue_filters=["shoe_size"]), "workflow.queue_filters[0]: 'shoe_size' is not a field of the form"),
])
def test_bad_workflow_sections_are_explained(tmp_path: Path, workflow: Any, expected: str) -> None:
    problems = _problems(tmp_path, workflow)
    assert any(p.startswith(expected) for p in problems), problems


def test_the_long_form_round_trips_through_a_form_version() -> None:
    defn = ServiceDefinition.model_validate(SERVICES["revue"])
    assert defn.workflow == "manual" and defn.workflow_rules is not None
    dumped = defn.model_dump(mode="json", by_alias=True)
    assert dumped["workflow"]["mode"] == "manual" and "workflow_rules" not in dumped
    assert ServiceDefinition.model_validate(dumped) == defn


def test_demo_services_keep_todays_behaviour() -> None:
    """No workflow section: same dump as before (no new form version), the engine's moves."""
    for code in ("cantine", "piscine", "cinema", "loisirs"):
        defn, problems = read_definition(PROJECT_ROOT / "plugins" / code / "service.yaml")
        assert defn is not None, problems
        assert defn.workflow_rules is None
        dumped = defn.model_dump(mode="json", by_alias=True)
        assert "workflow_rules" not in dumped and dumped["workflow"] in ("automatic", "manual")
        assert definition_hash(defn)


def test_engine_moves_match_the_engine() -> None:
    for status, targets in TRANSITIONS.items():
        assert set(ENGINE_MOVES[status]) == {t for t in targets if t != Status.OFFERED}, status
