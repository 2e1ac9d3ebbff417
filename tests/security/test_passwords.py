"""Password hashes: Argon2id for new ones; earlier Werkzeug hashes still log in and are upgraded."""

from __future__ import annotations

from collections.abc import Callable

from argon2 import PasswordHasher
from flask import Flask, g
from flask.testing import FlaskClient
from werkzeug.security import generate_password_hash

from inscriptions.auth.passwords import hash_password, needs_rehash, verify_password
from inscriptions.extensions import db
from inscriptions.models import Account, Household

PASSWORD = "mot-de-passe-de-2019"


def test_new_hashes_are_argon2id_at_the_owasp_baseline() -> None:
    stored = hash_password(PASSWORD)
    assert stored.startswith("$argon2id$") and "m=19456,t=2,p=1" in stored
    assert stored != hash_password(PASSWORD)  # a fresh salt each time
    assert verify_password(stored, PASSWORD)
    assert not verify_password(stored, PASSWORD + "!")
    assert not needs_rehash(stored)


def test_earlier_and_unknown_hashes() -> None:
    for legacy in (generate_password_hash(PASSWORD), generate_password_hash(PASSWORD, "pbkdf2:sha256:1000")):
        assert verify_password(legacy, PASSWORD) and not verify_password(legacy, "autre")
        assert needs_rehash(legacy)
    weaker = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)
    assert verify_password(weaker, PASSWORD) and needs_rehash(weaker)
    for broken in ("", None, "$argon2id$v=19$garbage", "not a hash"):
        assert not verify_password(broken, PASSWORD)


def _log_in(client: FlaskClient, email: str, password: str) -> int:
    g.pop("_login_user", None)  # the test's app context is shared by its clients
    return client.post("/connexion", data={"email": email, "password": password}).status_code


def _signed_in(client: FlaskClient) -> bool:
    g.pop("_login_user", None)
    return client.get("/mon-foyer/").status_code == 200


def test_an_earlier_hash_is_upgraded_at_the_next_log_in(
    app: Flask, make_household: Callable[..., Household]
) -> None:
    app.config["WTF_CSRF_ENABLED"] = False
    household = make_household()
    account = db.session.scalar(db.select(Account).filter_by(guardian_id=household.guardians[0].id))
    account.password_hash = generate_password_hash(PASSWORD)  # as written before Argon2
    db.session.commit()
    account_id, legacy = account.id, account.password_hash

    first, other = app.test_client(), app.test_client()
    # A session opened before the upgrade (under the old hash).
    with other.session_transaction() as session:
        session["_user_id"] = account.get_id()
    assert _signed_in(other)
    # A wrong password changes nothing.
    assert _log_in(first, account.email, "pas le bon") == 200
    db.session.expire_all()
    assert db.session.get(Account, account_id).password_hash == legacy

    assert _log_in(first, account.email, PASSWORD) == 302
    db.session.expire_all()
    upgraded = db.session.get(Account, account_id).password_hash
    assert upgraded.startswith("$argon2id$") and verify_password(upgraded, PASSWORD)
    # This browser stays in; the session opened under the old hash ends, as after a password
    # change (the session carries a fingerprint of the hash); logging in again works.
    assert _signed_in(first)
    assert not _signed_in(other)
    assert _log_in(other, account.email, PASSWORD) == 302 and _signed_in(other)
    db.session.expire_all()
    assert db.session.get(Account, account_id).password_hash == upgraded  # no second rehash
