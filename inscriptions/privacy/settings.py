"""Retention settings of personal data.

Per service: ``retention_months`` in the service definition (engine default
:data:`inscriptions.definitions.schema.DEFAULT_RETENTION_MONTHS`, 24 months after the session or
the service's period ends). Town-wide, in the Flask config (or ``INSCRIPTIONS_<NAME>``
environment variables):

- ``ACCOUNT_INACTIVE_DAYS`` (730): a family account not logged into for this long is deleted;
- ``ACCOUNT_WARNING_DAYS`` (30): the family is warned by e-mail this many days before;
- ``AUDIT_RETENTION_MONTHS`` (12): audit events older than this are deleted. CNIL recommends
  keeping access logs 6 months to 1 year; less than 6 is refused (so does the database's purge
  function, :mod:`inscriptions.privacy.integrity`);
- ``PAPER_HOUSEHOLD_RETENTION_MONTHS`` (24): a household without any account (a paper-only family,
  keyed in by agents) is deleted this long after its last registration's end (or its creation,
  when it never registered);
- ``DRAFT_RETENTION_DAYS`` (90): a form started online (sent or not) is deleted this long after
  its last change, with the files only it referred to;
- ``SCAN_RETENTION_DAYS`` (90): a scanner's stack as uploaded is deleted this long after the
  upload (its pages were stored one by one when it was read), and so are the scanned pages never
  registered (manual queue, rejected, duplicates, still waiting for a check) with their images;
- ``PRINT_RETENTION_DAYS`` (30): a mass printing's PDF is deleted this long after it was made
  (it can be printed again from its page).
"""

from __future__ import annotations

import calendar
import datetime as dt
import os
from dataclasses import dataclass

from flask import current_app

DEFAULTS = {"ACCOUNT_INACTIVE_DAYS": 730, "ACCOUNT_WARNING_DAYS": 30, "AUDIT_RETENTION_MONTHS": 12,
            "PAPER_HOUSEHOLD_RETENTION_MONTHS": 24, "DRAFT_RETENTION_DAYS": 90, "SCAN_RETENTION_DAYS": 90,
            "PRINT_RETENTION_DAYS": 30}
# The least each setting may be: CNIL's lower bound for access logs, 6 months.
MINIMUMS = {"AUDIT_RETENTION_MONTHS": 6}


@dataclass(frozen=True)
class PrivacySettings:
    """The town-wide retention periods."""

    account_inactive_days: int
    account_warning_days: int
    audit_retention_months: int
    paper_household_retention_months: int
    draft_retention_days: int
    scan_retention_days: int
    print_retention_days: int


def _value(name: str) -> int:
    configured = current_app.config.get(name)
    if configured is None:
        configured = os.environ.get(f"INSCRIPTIONS_{name}", DEFAULTS[name])
    value = int(configured)
    least = MINIMUMS.get(name, 1)
    if value < least:
        raise ValueError(f"{name} must be at least {least}")
    return value


def privacy_settings() -> PrivacySettings:
    """The retention periods of the running application (config, then environment, then defaults)."""
    inactive = _value("ACCOUNT_INACTIVE_DAYS")
    warning = min(_value("ACCOUNT_WARNING_DAYS"), inactive - 1) if inactive > 1 else 0
    return PrivacySettings(inactive, warning, _value("AUDIT_RETENTION_MONTHS"),
                           _value("PAPER_HOUSEHOLD_RETENTION_MONTHS"), _value("DRAFT_RETENTION_DAYS"),
                           _value("SCAN_RETENTION_DAYS"), _value("PRINT_RETENTION_DAYS"))


def add_months(moment: dt.datetime, months: int) -> dt.datetime:
    """``moment`` plus (or minus) ``months`` calendar months, the day clamped to the month's end."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)
