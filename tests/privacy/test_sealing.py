"""Health answers and uploaded files encrypted at rest, opened only for the readers allowed to."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from privacy_helpers import ANSWERS, PNG, upload_for
from sqlalchemy import select, text, update

from inscriptions.definitions.registry import sync_all
from inscriptions.extensions import db
from inscriptions.models import Application, Registration, Upload
from inscriptions.privacy import sealing
from inscriptions.privacy.sealing import FILE_MAGIC, OpenedOnRead, SealingError, is_sealed, unsealed
from inscriptions.uploads import open_upload, read_upload

SECRETS = ("ARACHIDES-SECRET", "ASTHME-SECRET")
OLD_KEY = "3q2m1sTUdbxWkQ0bJ0b1Gdn0nVGAe8QV4XbOk4bqfNo="
NEW_KEY = "GqA8rVJ1g2l7bQxj2jv0R8q4k1Nw8uXlH5e0tT7y6dM="


def everything_stored() -> str:
    """Every row of every table, as text (what a database dump or a backup shows)."""
    db.session.rollback()
    parts = []
    for table in db.metadata.sorted_tables:
        for row in db.session.execute(select(table)):
            parts.append(repr(tuple(row)))
    db.session.rollback()
    return "\n".join(parts)


def test_sensitive_answers_are_sealed_in_the_database(app, make_household, book) -> None:
    outcome = book(make_household())
    stored = everything_stored()
    assert "$sealed" in stored and "Mamie Jeanne" in stored  # the rest stays readable (reports)
    for secret in SECRETS:
        assert secret not in stored
    # The raw column as PostgreSQL or SQLite holds it.
    raw = db.session.execute(text("SELECT answers FROM registrations WHERE id = :i"),
                             {"i": outcome.registration_ids[0]}).scalar_one()
    assert "ARACHIDES" not in str(raw)
    reg = db.session.get(Registration, outcome.registration_ids[0])
    # Sealed in memory too, until a reader allowed to see it opens it.
    assert is_sealed(reg.answers["allergies"]) and is_sealed(reg.answers["contacts"][0]["health_note"])
    assert reg.answers["level"] == "a" and reg.answers["contacts"][0]["who"] == "Mamie Jeanne"
    assert unsealed(reg.answers)["allergies"] == "ARACHIDES-SECRET"
    assert unsealed(reg.answers)["contacts"] == ANSWERS["contacts"]


@pytest.mark.parametrize(("role", "shown"), [("agent", False), ("manager", True)])
def test_the_staff_page_opens_them_for_the_allowed_role_only(client, make_household, book, staff, login_as,
                                                              role, shown) -> None:
    reg = db.session.get(Registration, book(make_household()).registration_ids[0])
    login_as(staff(role, "atelier"))
    page = client.get(f"/gestion/atelier/inscriptions/{reg.reference}").get_data(as_text=True)
    assert "Mamie Jeanne" in page
    assert "$sealed" not in page and "gAAAA" not in page  # never a token on a page
    for secret in SECRETS:
        assert (secret in page) is shown


def test_an_uploaded_file_is_encrypted_on_disk(app, make_household) -> None:
    home = make_household()
    token = upload_for(home)
    upload = db.session.scalar(select(Upload).filter_by(token=token))
    stored = open_upload(upload).read_bytes()
    assert stored.startswith(FILE_MAGIC) and b"PNG" not in stored
    assert read_upload(upload) == PNG


def test_a_priority_rule_reads_a_sealed_answer_and_nothing_else() -> None:
    opened: list[str] = []
    real = sealing.unseal

    class Probe(OpenedOnRead):
        pass

    def counting(value):  # type: ignore[no-untyped-def]
        if is_sealed(value):
            opened.append("x")
        return real(value)

    facts = Probe({"handicap": {sealing.MARK: "not opened"}, "level": "a"})
    sealing.unseal = counting  # type: ignore[assignment]
    try:
        assert facts.get("level") == "a" and facts["level"] == "a"
        assert opened == []
    finally:
        sealing.unseal = real  # type: ignore[assignment]


def test_a_wrong_or_missing_key_is_a_clear_error(make_app: Callable[..., Flask], tmp_path: Path) -> None:
    app = make_app(DATA_KEYS="not-a-key")
    with app.app_context(), pytest.raises(SealingError, match="not a Fernet key"):
        sealing.seal("x")
    first = make_app(DATA_KEYS=OLD_KEY)
    with first.app_context():
        sealed = sealing.seal({"a": 1})
    second = make_app(DATA_KEYS=NEW_KEY)
    with second.app_context(), pytest.raises(SealingError, match="cannot be opened"):
        sealing.unseal(sealed)


def test_keys_rotate_and_old_clear_answers_get_sealed(make_app: Callable[..., Flask], tmp_path: Path,
                                                      make_household, book) -> None:
    from privacy_helpers import ATELIER, write_plugins

    plugins = write_plugins(tmp_path / "rotate-plugins", ATELIER)
    old = make_app(PLUGINS_DIR=plugins, WTF_CSRF_ENABLED=False, DATA_KEYS=OLD_KEY)
    with old.app_context():
        sync_all()
        home = make_household()
        token = upload_for(home)
        reg_id = book(home, answers={**ANSWERS, "certificate": token}).registration_ids[0]
        # An answer kept in clear before sealing existed (or before its field was flagged).
        legacy_id = book(make_household(last_name="Ancien"), session="later").registration_ids[0]
        db.session.execute(update(Registration).where(Registration.id == legacy_id)
                           .values(answers={**ANSWERS, "allergies": "CLEAR-SECRET"}))
        db.session.commit()
        assert "CLEAR-SECRET" in everything_stored()

    both = make_app(PLUGINS_DIR=plugins, DATA_KEYS=f"{NEW_KEY},{OLD_KEY}")
    with both.app_context():  # the command runs in the current app context when there is one
        result = both.test_cli_runner().invoke(args=["privacy", "rotate-keys"])
    assert result.exit_code == 0, result.output
    assert "registrations re-encrypted: 2" in result.output and "files re-encrypted: 1" in result.output

    new = make_app(PLUGINS_DIR=plugins, DATA_KEYS=NEW_KEY)  # the old key removed
    with new.app_context():
        stored = everything_stored()
        assert "CLEAR-SECRET" not in stored and "ARACHIDES-SECRET" not in stored
        assert unsealed(db.session.get(Registration, legacy_id).answers)["allergies"] == "CLEAR-SECRET"
        reg = db.session.get(Registration, reg_id)
        assert unsealed(reg.answers)["allergies"] == "ARACHIDES-SECRET"
        assert read_upload(db.session.scalar(select(Upload).filter_by(token=token))) == PNG
        app_rows = db.session.scalars(select(Application)).all()
        assert app_rows and all("CLEAR" not in str(a.participants) for a in app_rows)
    old_only = make_app(PLUGINS_DIR=plugins, DATA_KEYS=OLD_KEY)
    with old_only.app_context(), pytest.raises(SealingError):
        unsealed(db.session.get(Registration, reg_id).answers)


def test_the_family_reads_and_downloads_its_own(client, make_household, book, login_as) -> None:
    from privacy_helpers import account_of

    home = make_household()
    token = upload_for(home)
    reg = db.session.get(Registration, book(home, answers={**ANSWERS, "certificate": token}).registration_ids[0])
    login_as(account_of(home))
    page = client.get(f"/mes-inscriptions/{reg.reference}").get_data(as_text=True)
    for secret in SECRETS:
        assert secret in page
    assert "$sealed" not in page
    download = client.get(f"/mes-documents/{token}")
    assert download.status_code == 200 and download.data == PNG


def test_scanned_pages_are_encrypted_on_disk(app) -> None:
    from inscriptions.intake import store

    image = b"\x89PNG page with a health answer"
    digest = store.store_png(image)
    kept = (store.scan_dir() / f"{digest}.png").read_bytes()
    assert kept.startswith(FILE_MAGIC) and b"health answer" not in kept
    assert store.load_png(digest) == image
