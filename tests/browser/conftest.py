"""Browser tests: the real app served on a local port, driven in Debian's Chromium.

The fixtures (``server_url``, ``browser``, ``phone_page``, ``check_accessibility``) live in
``tests/conftest.py``: one Playwright instance per test run serves every folder's browser tests
(a second ``sync_playwright()`` in the same process refuses to start).
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser
