"""Shared fixtures: an app per test on a migrated database, a frozen clock, and factories.

Set ``INSCRIPTIONS_TEST_DATABASE_URL`` to run the whole suite on PostgreSQL; otherwise each test
gets its own copy of a migrated SQLite file.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, g
from flask.testing import FlaskClient
from sqlalchemy import text
from werkzeug.serving import make_server

os.environ.setdefault("INSCRIPTIONS_SECRET_KEY", "test-secret-key")
# One sealing key for every process of a test (the app, gunicorn, workers): inscriptions.privacy.sealing.
os.environ.setdefault("INSCRIPTIONS_DATA_KEYS", "non_6BlDYC7DbjLwKs0tGdsnHO5qzd2pLdnul1wwEPQ=")

from inscriptions import clock, create_app
from inscriptions.extensions import db
from inscriptions.models import Account, Child, Guardian, Household
from inscriptions.settings import PROJECT_ROOT

PG_URL = os.environ.get("INSCRIPTIONS_TEST_DATABASE_URL")
PLUGINS = PROJECT_ROOT / "plugins"
# Inside every demo service's opening window.
DEFAULT_NOW = dt.datetime(2026, 9, 15, 8, 0, tzinfo=dt.UTC)
PASSWORD = "correct horse battery staple"


def _compile_catalog() -> None:
    """Tests read the French interface: compile the catalog when the .po is newer than the .mo."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    folder = PROJECT_ROOT / "inscriptions" / "translations" / "fr" / "LC_MESSAGES"
    po, mo = folder / "messages.po", folder / "messages.mo"
    if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
        return
    with po.open("rb") as source:
        catalog = read_po(source, locale="fr")
    with mo.open("wb") as target:
        write_mo(target, catalog, use_fuzzy=True)


_compile_catalog()


def base_config(db_url: str, tmp: Path, plugins: Path = PLUGINS) -> dict[str, object]:
    return {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": db_url,
        "PLUGINS_DIR": plugins,
        "UPLOAD_DIR": tmp / "uploads",
        "MAIL_BACKEND": "locmem",
        "JOBS_EAGER_RAISE": True,
        "SERVER_NAME": "localhost",
        # The journal's recorded head (inscriptions.privacy.integrity), one per test's database.
        "AUDIT_HEAD_FILE": tmp / "audit-head.json",
    }


def _migrate(db_url: str, tmp: Path) -> None:
    from flask_migrate import upgrade

    app = create_app(base_config(db_url, tmp))
    with app.app_context():
        if PG_URL:
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        upgrade(directory=str(PROJECT_ROOT / "migrations"))
        db.engine.dispose()


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The URL of a migrated database (PostgreSQL), or the path of a migrated SQLite template."""
    tmp = tmp_path_factory.mktemp("template")
    if PG_URL:
        _migrate(PG_URL, tmp)
        return PG_URL
    template = tmp / "template.sqlite3"
    _migrate(f"sqlite:///{template}", tmp)
    return str(template)


@pytest.fixture
def db_url(migrated_db: str, tmp_path: Path) -> Iterator[str]:
    if PG_URL:
        yield PG_URL
        return
    target = tmp_path / "test.sqlite3"
    shutil.copy(migrated_db, target)
    yield f"sqlite:///{target}"


def _truncate_all() -> None:
    tables = ", ".join(t.name for t in db.metadata.sorted_tables)
    with db.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture
def make_app(db_url: str, tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    """Build an app on this test's database; keyword arguments override the config."""
    built: list[Flask] = []

    def factory(**overrides: object) -> Flask:
        # Built as production builds it: Flask's CLI (run by CLI tests through a runner) sets
        # FLASK_RUN_FROM_CLI for the whole process, which would turn secure cookies off.
        os.environ.pop("FLASK_RUN_FROM_CLI", None)
        app = create_app({**base_config(db_url, tmp_path), **overrides})
        built.append(app)
        return app

    yield factory
    for app in built:
        with app.app_context():
            db.session.remove()
            if PG_URL and app is built[0]:
                _truncate_all()
            db.engine.dispose()


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Iterator[Flask]:
    application = make_app()
    with application.app_context():
        yield application


@pytest.fixture(autouse=True)
def frozen_clock() -> Iterator[Callable[[dt.datetime], None]]:
    """The engine's clock, frozen at :data:`DEFAULT_NOW`; call the fixture to move it."""
    clock.freeze(DEFAULT_NOW)
    yield clock.freeze
    clock.freeze(None)


@pytest.fixture
def make_household(app: Flask) -> Callable[..., Household]:
    """Create a household with guardians, children and optionally a log-in account."""
    counter = {"n": 0}

    def factory(
        *,
        last_name: str = "Martin",
        children: list[tuple[str, dt.date]] | None = None,
        quotient_familial: int | None = 600,
        email: str | None = "default",
        resident: bool = True,
        with_account: bool = True,
    ) -> Household:
        counter["n"] += 1
        n = counter["n"]
        household = Household(
            address_line1=f"{n} rue des Écoles",
            postcode="99990" if resident else "75011",
            city="Villebelle" if resident else "Paris",
            quotient_familial=quotient_familial,
        )
        if email == "default":
            email = f"parent{n}@example.fr"
        guardian = Guardian(first_name="Camille", last_name=last_name, email=email)
        if email:
            guardian.email_confirmed_at = clock.utcnow_naive()  # an established family's address
        household.guardians.append(guardian)
        kids = children if children is not None else [("Léa", dt.date(2018, 3, 1))]
        for first, born in kids:
            household.children.append(
                Child(first_name=first, last_name=last_name, birth_date=born,
                      school="École Jules-Ferry", class_name="CE1")
            )
        db.session.add(household)
        db.session.flush()
        if with_account and email:
            account = Account(email=email.lower(), guardian_id=guardian.id)
            account.set_password(PASSWORD)
            db.session.add(account)
        db.session.commit()
        return household

    return factory


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask):  # type: ignore[no-untyped-def]
    return app.test_cli_runner()


@pytest.fixture
def login(client: FlaskClient) -> Callable[[Household], Account]:
    """Log the test client in as the account of ``household``'s first guardian."""

    def do_login(household: Household) -> Account:
        account = db.session.scalar(
            db.select(Account).filter_by(guardian_id=household.guardians[0].id)
        )
        assert account is not None, "this household has no account"
        # Test requests share the test's app context, where Flask-Login caches the last user.
        g.pop("_login_user", None)
        with client.session_transaction() as session:
            session["_user_id"] = account.get_id()
            session["_fresh"] = True
        return account

    return do_login


@pytest.fixture
def staff(app: Flask) -> Callable[..., Account]:
    """``staff("agent", "cantine")``: a staff account holding that grant, committed.

    The e-mail is derived from the role and the service unless ``email`` is given (the same e-mail
    twice gives one account several grants).
    """
    from inscriptions.permissions import grant_role

    def make(role: str, service: str | None = None, email: str | None = None) -> Account:
        account, _created, _granted = grant_role(email or f"{role}-{service or 'all'}@mairie.test", role, service)
        db.session.commit()
        return account

    return make


@pytest.fixture
def login_starts_fresh() -> bool:
    """Whether :func:`login_as` starts from an empty client session and expires the objects loaded
    by the test's database session before logging in.

    False here; a folder whose tests switch between accounts on one client overrides it with True
    in its conftest.py.
    """
    return False


@pytest.fixture
def login_as(client: FlaskClient, login_starts_fresh: bool) -> Callable[[Account | None], Account | None]:
    """Log the test client in as ``account`` (staff or parent); ``login_as(None)`` logs out."""

    def do_login(account: Account | None) -> Account | None:
        # Test requests share the test's app context, where Flask-Login caches the last user.
        g.pop("_login_user", None)
        with client.session_transaction() as session:
            if account is None or login_starts_fresh:
                session.clear()
            if account is not None:
                session["_user_id"] = account.get_id()
                session["_fresh"] = True
        if login_starts_fresh:
            db.session.expire_all()
        return account

    return do_login


@pytest.fixture
def agent(staff: Callable[..., Account], login_as: Callable[[Account | None], Account | None]) -> Account:
    """A canteen agent, logged in."""
    account = staff("agent", "cantine")
    login_as(account)
    return account


# --- Browser tests: the real app on a local port, driven in Debian's Chromium -----------------
# No browser is ever downloaded: Playwright launches /usr/bin/chromium. Every page visited can be
# checked with axe-core (bundled in the axe-playwright-python package).

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PHONE_VIEWPORT = {"width": 390, "height": 844}

@pytest.fixture
def server_app(make_app: Callable[..., Flask]) -> Flask:
    """The app :func:`server_url` serves: its mail outbox holds what the browser's actions sent."""
    return make_app(SERVER_NAME=None)


@pytest.fixture
def server_url(server_app: Flask) -> Iterator[str]:
    """Serve a fresh app (this test's database) on a free local port, in a thread."""
    app = server_app
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture(scope="session")
def browser():  # type: ignore[no-untyped-def]
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is required for browser tests (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def phone_page(browser):  # type: ignore[no-untyped-def]
    """A page in a phone-sized (390 px wide) window."""
    context = browser.new_context(viewport=PHONE_VIEWPORT, locale="fr-FR", bypass_csp=False)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture(scope="session")
def axe():  # type: ignore[no-untyped-def]
    from axe_playwright_python.sync_playwright import Axe

    return Axe()


@pytest.fixture
def check_accessibility(axe) -> Callable[..., None]:  # type: ignore[no-untyped-def]
    """Assert the current page has no serious or critical axe-core violation."""
    checked: list[str] = []

    def check(page) -> None:  # type: ignore[no-untyped-def]
        results = axe.run(page)
        bad = [
            v for v in results.response["violations"] if v.get("impact") in {"serious", "critical"}
        ]
        details = "\n".join(
            f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:5]}"
            for v in bad
        )
        assert not bad, f"accessibility violations on {page.url}:\n{details}"
        checked.append(page.url)

    check.checked = checked  # type: ignore[attr-defined]
    return check


# --- The rq jobs backend on a real local Redis ---------------------------------------------------
# A database number and queue name nobody else uses: the fixtures empty them.
TEST_REDIS_URL = "redis://127.0.0.1:6379/15"
TEST_QUEUE = "inscriptions-test"


@pytest.fixture
def redis_db() -> Iterator[Any]:
    """The local Redis, database 15, emptied before and after; skips when Redis is unreachable."""
    from redis import Redis
    from redis.exceptions import RedisError

    client = Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except RedisError as exc:
        pytest.skip(f"Redis is not reachable at {TEST_REDIS_URL} ({exc}); the rq backend tests need it")
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def rq_app(app: Flask, redis_db: Any) -> Iterator[Flask]:
    """The test app switched to the rq backend on the test Redis database."""
    from inscriptions import jobs

    app.config.update(JOBS_BACKEND="rq", REDIS_URL=TEST_REDIS_URL, JOBS_QUEUE=TEST_QUEUE)
    yield app
    client = app.extensions.pop("inscriptions.jobs.redis", None)
    if client is not None:
        client.close()
    jobs._worker_app = None
