"""E-mails to families and staff: one template pair per message, sent from the town's address.

Every message is plain text, made of two templates: ``<name>_subject.txt`` (one line) and
``<name>.txt`` (the body), rendered with the town (``town``) and the caller's context. Called from
jobs, after the commit (see :mod:`inscriptions.jobs`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import current_app, render_template
from flask_mailman import EmailMessage


def send_templated(template: str, to: Sequence[str], **context: Any) -> int:
    """Render ``template`` (``"emails/password_reset"``: the path without ``_subject.txt`` /
    ``.txt``) and send it to ``to`` from the town's contact address; returns how many messages
    were sent (0 or 1)."""
    town = current_app.extensions["inscriptions.town"]
    context = {"town": town, **context}
    message = EmailMessage(
        subject=render_template(f"{template}_subject.txt", **context).strip(),
        body=render_template(f"{template}.txt", **context),
        from_email=str(town.contact.email) if town.contact.email else None,
        to=list(to),
    )
    return message.send()
