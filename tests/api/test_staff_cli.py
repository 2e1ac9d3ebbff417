"""``inscriptions staff``: staff accounts, grants and API tokens from the command line."""

from __future__ import annotations

from inscriptions.extensions import db
from inscriptions.models import Account, StaffRole
from inscriptions.permissions import permissions_markdown


def test_create_token_and_revoke(runner, api) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(args=["staff", "create", "--email", "Guichet@Mairie.test", "--role", "agent",
                                 "--service", "cantine", "--password", "a long password"])
    assert result.exit_code == 0, result.output
    assert "created account guichet@mairie.test" in result.output
    account = db.session.scalar(db.select(Account).filter_by(email="guichet@mairie.test"))
    assert account.check_password("a long password") and account.guardian_id is None
    result = runner.invoke(args=["staff", "create", "--email", "guichet@mairie.test", "--role", "manager",
                                 "--service", "piscine"])
    assert result.exit_code == 0 and "updated account" in result.output
    grants = db.session.execute(db.select(StaffRole.role, StaffRole.service_code).filter_by(account_id=account.id))
    assert sorted(grants) == [("agent", "cantine"), ("manager", "piscine")]

    result = runner.invoke(args=["staff", "token", "--email", "guichet@mairie.test", "--name", "bench"])
    assert result.exit_code == 0
    token = result.output.strip()
    assert api("GET", "/me", token).get_json()["email"] == "guichet@mairie.test"

    result = runner.invoke(args=["staff", "revoke-token", "--email", "guichet@mairie.test", "--name", "bench"])
    assert result.exit_code == 0 and "1 token(s) revoked" in result.output
    assert api("GET", "/me", token).status_code == 401


def test_bad_arguments_fail_with_a_message(runner) -> None:  # type: ignore[no-untyped-def]
    bad = (["--role", "agent"], ["--role", "agent", "--service", "nope"], ["--role", "admin", "--service", "cantine"])
    for args in bad:
        result = runner.invoke(args=["staff", "create", "--email", "x@mairie.test", *args])
        assert result.exit_code != 0 and "Error" in result.output, args
    result = runner.invoke(args=["staff", "token", "--email", "nobody@mairie.test", "--name", "n"])
    assert result.exit_code != 0 and "no account" in result.output
    assert db.session.scalar(db.select(db.func.count(Account.id))) == 0


def test_permissions_command_prints_the_doc(runner) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(args=["staff", "permissions"])
    assert result.exit_code == 0 and result.output == permissions_markdown()
