"""PostgreSQL out of reach (restarting, a cut connection): a 503 that says to try again, never a 500."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask

# Nothing listens on port 1: every connection is refused at once.
UNREACHABLE = "postgresql+psycopg://postgres@127.0.0.1:1/inscriptions?connect_timeout=1"


def test_pages_and_api_answer_503_with_a_retry_hint(make_app: Callable[..., Flask]) -> None:
    make_app()  # the test database's own app first: the fixture cleans the database through it
    app = make_app(SQLALCHEMY_DATABASE_URI=UNREACHABLE, SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True},
                   WTF_CSRF_ENABLED=False, RATE_LIMITS_ENABLED=False)
    client = app.test_client()
    page = client.post("/connexion", data={"email": "parent@example.fr", "password": "secret"})
    assert page.status_code == 503 and page.headers["Retry-After"] == "2"
    assert "réessayez dans quelques secondes" in page.get_data(as_text=True)
    api = client.get("/api/v1/services", headers={"Authorization": "Bearer insc_" + "x" * 43})
    assert api.status_code == 503 and api.get_json()["error"]["code"] == "busy"
    assert api.headers["Retry-After"] == "2"


def test_a_connection_cut_while_the_session_ends_keeps_the_answer(make_app: Callable[..., Flask],
                                                                   monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL restarting right after a page was built: ending the request's session rolls back
    on a dead connection. That used to raise after the answer was chosen: a 500."""
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.orm import Session

    from inscriptions.extensions import db
    from inscriptions.models import ApiToken

    app = make_app()
    client = app.test_client()  # each request with its own application context, as in production
    real_close = Session.close
    cuts: list[int] = []

    def close_on_a_cut_connection(self) -> None:  # type: ignore[no-untyped-def]
        in_transaction = self.in_transaction()
        real_close(self)  # the connection goes back (SQLAlchemy invalidates a cut one), then:
        if not cuts and in_transaction:
            cuts.append(1)
            raise OperationalError("ROLLBACK", {}, Exception("terminating connection due to administrator command"))

    monkeypatch.setattr(Session, "close", close_on_a_cut_connection)
    # A request that reads the database (an unknown token is looked up), then ends its session.
    answer = client.get("/api/v1/services", headers={"Authorization": "Bearer insc_" + "x" * 43})
    assert cuts == [1] and answer.status_code == 401
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(ApiToken.id))) == 0  # the pool still works
