"""Plain helpers of the counter tests (fixtures live in conftest.py)."""

from __future__ import annotations

import html
import re
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

KEY_INPUT = re.compile(r'<input type="hidden" name="_key" value="([0-9a-f]{32})">')

# A canteen form as an agent keys it (plugins/cantine/service.yaml), for the child key ``c<id>``.
def canteen_answers(child_key: str, **extra: Any) -> dict[str, Any]:
    return {
        f"{child_key}-days": ["mon", "thu"],
        f"{child_key}-diet": "sans_porc",
        f"{child_key}-allergy": "no",
        "pickup-0-name": "Mamie Dupont",
        "pickup-0-phone": "0612345678",
        "rules": "y",
        **extra,
    }


def text_of(response: TestResponse) -> str:
    """The page's HTML with entities such as &#39; decoded, for readable assertions."""
    return html.unescape(response.get_data(as_text=True))


def t(msgid: str, **variables: object) -> str:
    """``msgid`` as the app shows it (translated once the French catalog has it)."""
    from flask_babel import gettext

    return str(gettext(msgid, **variables))


def setup_data(child_ids: list[int], channel: str = "counter", received: str = "", reason: str = "",
               session: str | None = None, version: int | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "setup-participant": [f"c{i}" for i in child_ids],
        "setup-channel": channel,
        "setup-received_on": received,
        "setup-mediation_reason": reason,
    }
    if session:
        data["setup-session"] = session
    if version:
        data["setup-version"] = str(version)
    return data


def entry_key(client: FlaskClient, url: str, setup: dict[str, Any]) -> str:
    """Post the set-up step and return the one-time key of the entry page it shows."""
    response = client.post(url, data={**setup, "_step": "setup"})
    assert response.status_code == 200, text_of(response)[:2000]
    found = KEY_INPUT.search(response.get_data(as_text=True))
    assert found, "the entry page has no one-time key"
    return found.group(1)
