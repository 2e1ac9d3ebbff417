"""Retention settings of personal data.

Per service: ``retention_months`` in the service definition (engine default
:data:`inscriptions.definitions.schema.DEFAULT_RETENTION_MONTHS`, 24 months after the session or
the service's period ends). Town-wide, in the Flask config (or ``INSCRIPTIONS_<NAME>``
environment variables):

- ``ACCOUNT_INACTIVE_DAYS`` (730): a family account not logged into for this long is deleted;
- ``ACCOUNT_WARNING_DAYS`` (30): the family is warned by e-mail this many days before;
- ``AUDIT_RETENTION_MONTHS`` (12): audit events older than this are deleted (CNIL: 6 to 12 months).
"""

from __future__ import annotations

import calendar
import datetime as dt
import os
from dataclasses import dataclass

from flask import current_app

DEFAULTS = {"ACCOUNT_INACTIVE_DAYS": 730, "ACCOUNT_WARNING_DAYS": 30, "AUDIT_RETENTION_MONTHS": 12}


@dataclass(frozen=True)
class PrivacySettings:
    """The town-wide retention periods."""

    account_inactive_days: int
    account_warning_days: int
    audit_retention_months: int


def _value(name: str) -> int:
    configured = current_app.config.get(name)
    if configured is None:
        configured = os.environ.get(f"INSCRIPTIONS_{name}", DEFAULTS[name])
    value = int(configured)
    if value < 1:
        raise ValueError(f"{name} must be at least 1")
    return value


def privacy_settings() -> PrivacySettings:
    """The retention periods of the running application (config, then environment, then defaults)."""
    inactive = _value("ACCOUNT_INACTIVE_DAYS")
    warning = min(_value("ACCOUNT_WARNING_DAYS"), inactive - 1) if inactive > 1 else 0
    return PrivacySettings(inactive, warning, _value("AUDIT_RETENTION_MONTHS"))


def add_months(moment: dt.datetime, months: int) -> dt.datetime:
    """``moment`` plus (or minus) ``months`` calendar months, the day clamped to the month's end."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)
