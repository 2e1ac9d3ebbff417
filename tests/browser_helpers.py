"""What browser tests share: logging in through the real log-in page."""

from __future__ import annotations

from typing import Any


def log_in(page: Any, server_url: str, email: str, password: str) -> None:
    """Log in on ``page`` through the log-in form, and wait for the page it leads to (a busy
    machine answers slowly: the next step must not start on the log-in page)."""
    page.goto(server_url + "/connexion")
    page.fill("#email", email)
    page.fill("#password", password)
    with page.expect_navigation():
        page.click("form.form button[type=submit]")
