"""Absolute links for messages, also when they are built outside any request (cron, RQ workers)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, has_request_context, request, url_for


def public_url(endpoint: str, **values: object) -> str | None:
    """The absolute URL of ``endpoint``, or None when the site's address is unknown.

    The ``PUBLIC_URL`` setting (``INSCRIPTIONS_PUBLIC_URL``, e.g.
    ``https://inscriptions.villebelle.fr``, required in production) gives it, so a forged ``Host``
    header never reaches an e-mail. Without it (development) a request's own host is used; outside
    a request callers say where to go in words instead of printing a wrong link.
    """
    base = current_app.config.get("PUBLIC_URL")
    if not base:
        if has_request_context():
            return url_for(endpoint, _external=True, **values)
        return None
    parts = urlsplit(str(base))
    adapter = current_app.url_map.bind(
        parts.netloc, script_name=parts.path.rstrip("/") or "/", url_scheme=parts.scheme or "https"
    )
    return adapter.build(endpoint, values, force_external=True)


def site_url(path: str) -> str:
    """The site's own address for a link sent by e-mail from a request: ``PUBLIC_URL`` when set,
    so a forged ``Host`` header cannot make the e-mail point to another site."""
    base = current_app.config.get("PUBLIC_URL")
    if base:
        return str(base).rstrip("/") + path
    return request.host_url.rstrip("/") + path
