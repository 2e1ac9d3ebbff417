"""The permission table: who may do what, and its documentation kept in sync."""

from __future__ import annotations

import pytest

from inscriptions.extensions import db
from inscriptions.models import Account
from inscriptions.permissions import (
    PERMISSIONS,
    GrantError,
    acts_for_household,
    can,
    grant_role,
    permissions_markdown,
    services_with,
)
from inscriptions.settings import PROJECT_ROOT


def test_docs_permissions_md_is_generated_from_the_table() -> None:
    doc = (PROJECT_ROOT / "docs" / "permissions.md").read_text(encoding="utf-8")
    assert doc == permissions_markdown(), "run: inscriptions staff permissions > docs/permissions.md"
    for name in PERMISSIONS:
        assert f"| `{name}` |" in doc


def test_per_service_roles_hold_only_their_services(app, staff) -> None:  # type: ignore[no-untyped-def]
    agent = staff("agent", "cantine")
    assert can(agent, "register_for_any_household", "cantine")
    assert not can(agent, "register_for_any_household", "piscine")
    assert not can(agent, "read_sensitive_answers", "cantine")
    assert can(agent, "search_households")
    assert not can(agent, "register_own_household")
    assert services_with(agent, "read_sessions_fill") == {"cantine"}
    with pytest.raises(ValueError, match="per service"):
        can(agent, "register_for_any_household")

    manager = staff("manager", "piscine")
    assert can(manager, "read_sensitive_answers", "piscine")
    assert not can(manager, "read_sensitive_answers", "cantine")


def test_town_wide_roles(app, staff) -> None:  # type: ignore[no-untyped-def]
    admin, dpo = staff("admin"), staff("dpo")
    assert can(admin, "register_for_any_household", "piscine")
    assert services_with(admin, "read_any_registration") is None
    # Health data is for the people who care for the child, not for the town's IT.
    assert not can(admin, "read_sensitive_answers", "cantine")
    # The DPO reads the audit log, not the services' data (no per-service permission).
    assert not any(can(dpo, name, "cantine") for name, perm in PERMISSIONS.items() if perm.per_service)
    assert can(dpo, "read_audit_log") and not can(admin, "read_audit_log")
    assert services_with(dpo, "read_any_registration") == set()


def test_parents_act_on_their_household_only(app, make_household, staff) -> None:  # type: ignore[no-untyped-def]
    household, other = make_household(), make_household(last_name="Durand")
    parent = db.session.scalar(db.select(Account).filter_by(guardian_id=household.guardians[0].id))
    assert can(parent, "register_own_household") and can(parent, "read_own_registrations")
    assert not can(parent, "register_for_any_household", "cantine")
    assert acts_for_household(parent, household.id) and not acts_for_household(parent, other.id)
    assert not acts_for_household(staff("admin"), household.id)
    parent.active = False
    assert not can(parent, "register_own_household") and not acts_for_household(parent, household.id)
    assert not can(None, "search_households")


def test_grant_role_checks_scope_and_is_idempotent(app) -> None:  # type: ignore[no-untyped-def]
    account, created, granted = grant_role("Agent@Mairie.test", "agent", "cantine", "s3cret-password")
    assert created and granted and account.email == "agent@mairie.test"
    assert account.check_password("s3cret-password")
    again, created, granted = grant_role("agent@mairie.test", "agent", "cantine")
    assert again.id == account.id and not created and not granted
    assert account.check_password("s3cret-password")
    for args in (("agent", None), ("agent", "nope"), ("admin", "cantine"), ("boss", None)):
        with pytest.raises(GrantError):
            grant_role("x@mairie.test", *args)
    with pytest.raises(GrantError):
        grant_role("not-an-email", "admin", None)
