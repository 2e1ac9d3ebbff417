"""Pages every visitor can reach: legal notice, personal data, accessibility, and the theme CSS."""

from __future__ import annotations

import re

from flask import Blueprint, Response, current_app, render_template, request, url_for
from markupsafe import Markup, escape
from werkzeug.routing import BuildError

from inscriptions import TOWN_KEY
from inscriptions.site.theme import Theme, build_theme

bp = Blueprint("site", __name__)

THEME_KEY = "inscriptions.theme"
# The theme changes only when the town file does, i.e. on restart: browsers may keep it a day,
# and its URL carries a version so a new colour is fetched at once.
THEME_MAX_AGE = 24 * 3600


def theme() -> Theme:
    """The app's theme, built once from the town file."""
    cached = current_app.extensions.get(THEME_KEY)
    if cached is None:
        cached = build_theme(current_app.extensions[TOWN_KEY])
        current_app.extensions[THEME_KEY] = cached
    return cached


@bp.get("/theme.css")
def theme_css() -> Response:
    current = theme()
    response = Response(current.css, mimetype="text/css")
    response.set_etag(current.version)
    response.cache_control.public = True
    response.cache_control.max_age = THEME_MAX_AGE
    return response.make_conditional(request)


@bp.get("/mentions-legales")
def legal_notice() -> str:
    return render_template("site/legal_notice.html")


@bp.get("/donnees-personnelles")
def personal_data() -> str:
    return render_template("site/personal_data.html")


@bp.get("/accessibilite")
def accessibility() -> str:
    return render_template("site/accessibility.html")


@bp.app_template_filter("paragraphs")
def paragraphs(text: str | None) -> Markup:
    """Town-written plain text as HTML paragraphs: blank lines split paragraphs, newlines break lines."""
    blocks = [b.strip() for b in re.split(r"\n\s*\n", text or "") if b.strip()]
    html = "".join(
        "<p>" + "<br>\n".join(str(escape(line.strip())) for line in block.splitlines()) + "</p>\n"
        for block in blocks
    )
    return Markup(html)  # noqa: S704 - every piece of text was escaped above


@bp.app_context_processor
def _layout_helpers() -> dict[str, object]:
    def nav_url(endpoint: str, fallback: str) -> str:
        """The URL of ``endpoint``, or ``fallback`` while the endpoint does not exist yet."""
        try:
            return url_for(endpoint)
        except BuildError:
            return fallback

    return {"nav_url": nav_url, "theme_version": theme().version}
