"""Plain helpers shared by the family web tests (fixtures live in conftest.py)."""

from __future__ import annotations

import html
import re

from werkzeug.test import TestResponse

# The password make_household() gives every account (tests/conftest.py).
PASSWORD = "correct horse battery staple"

CSRF_INPUT = re.compile(r'<input[^>]*name="csrf_token"[^>]*value="([^"]+)"')

# Valid answers of the demo canteen form (plugins/cantine/service.yaml).
CANTEEN_ANSWERS = {"days": ["mon", "tue"], "diet": "standard", "allergy": "non", "rules": "on"}


def csrf_token_of(page: str) -> str:
    found = CSRF_INPUT.search(page)
    assert found, "no CSRF token on the page"
    return found.group(1)


def text_of(response: TestResponse) -> str:
    """The page's HTML with entities such as &#39; decoded, for readable assertions."""
    return html.unescape(response.get_data(as_text=True))


def t(msgid: str, **variables: object) -> str:
    """``msgid`` as the app shows it (translated once the French catalog has it)."""
    from flask_babel import gettext

    return str(gettext(msgid, **variables))

