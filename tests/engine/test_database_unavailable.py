"""PostgreSQL out of reach (restarting, a cut connection): a 503 that says to try again, never a 500."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask

# Nothing listens on port 1: every connection is refused at once.
UNREACHABLE = "postgresql+psycopg://postgres@127.0.0.1:1/inscriptions?connect_timeout=1"


def test_pages_and_api_answer_503_with_a_retry_hint(make_app: Callable[..., Flask]) -> None:
    app = make_app(SQLALCHEMY_DATABASE_URI=UNREACHABLE, SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True},
                   WTF_CSRF_ENABLED=False, RATE_LIMITS_ENABLED=False)
    client = app.test_client()
    page = client.post("/connexion", data={"email": "parent@example.fr", "password": "secret"})
    assert page.status_code == 503 and page.headers["Retry-After"] == "2"
    assert "réessayez dans quelques secondes" in page.get_data(as_text=True)
    api = client.get("/api/v1/services", headers={"Authorization": "Bearer insc_" + "x" * 43})
    assert api.status_code == 503 and api.get_json()["error"]["code"] == "busy"
    assert api.headers["Retry-After"] == "2"
