"""Application settings, read from ``INSCRIPTIONS_*`` environment variables.

Everything a town changes about *itself* (name, logo, colours, contacts) lives in the town file
(see :mod:`inscriptions.town`); this module holds the technical settings.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"INSCRIPTIONS_{name}", default)


def _secret_key(instance_path: Path) -> str:
    """Use the configured key, or a random one kept in the instance folder (development)."""
    configured = _env("SECRET_KEY")
    if configured:
        return configured
    key_file = instance_path / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    key_file.write_text(key)
    key_file.chmod(0o600)
    return key


def _secure_cookies() -> bool:
    """Cookies are HTTPS-only unless ``INSCRIPTIONS_SECURE_COOKIES=0``.

    Production gets secure cookies without having to remember a setting; the development server
    (``inscriptions run`` / ``make run`` on http://127.0.0.1) turns them off by default, since a
    browser does not send back a ``Secure`` cookie over plain http everywhere.
    """
    dev_server = os.environ.get("FLASK_RUN_FROM_CLI") == "true"
    return _env("SECURE_COOKIES", "0" if dev_server else "1") == "1"


def _engine_options() -> dict[str, object]:
    """SQLAlchemy engine options; the pool size bounds each process's database connections.

    Budget: (pool size + overflow) x processes per machine x machines < PostgreSQL's
    ``max_connections`` (see docs/production.md). Unset, SQLAlchemy's defaults apply (5 + 10).
    """
    options: dict[str, object] = {"pool_pre_ping": True}
    pool_size = _env("DB_POOL_SIZE")
    if pool_size:
        options["pool_size"] = int(pool_size)
    max_overflow = _env("DB_MAX_OVERFLOW")
    if max_overflow:
        options["max_overflow"] = int(max_overflow)
    return options


class SettingsError(Exception):
    """A setting production cannot run without is missing or wrong (a one-line reason)."""


def check_production(config: Mapping[str, Any]) -> None:
    """Refuse to serve without what production needs: ``PUBLIC_URL``, the site's address, from
    which every link in an e-mail is built (a password reset included), never from the ``Host``
    header a request brings; ``DATA_KEYS``, the keys of the sealed health answers (a key generated
    into a folder a redeployment replaces would lose them all). Called by ``wsgi.py`` and by RQ
    workers; the development server (``inscriptions run``, any ``flask`` command) and tests run
    without it.
    """
    if config.get("TESTING") or os.environ.get("FLASK_RUN_FROM_CLI") == "true":
        return
    url = str(config.get("PUBLIC_URL") or "").strip()
    if not url:
        raise SettingsError(
            "INSCRIPTIONS_PUBLIC_URL is required in production: the site's address, e.g. "
            "https://inscriptions.villebelle.fr, from which links in e-mails are built")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise SettingsError(f"INSCRIPTIONS_PUBLIC_URL must be the site's address, e.g. "
                            f"https://inscriptions.villebelle.fr (got {url!r})")
    if not str(config.get("DATA_KEYS") or "").strip():
        raise SettingsError(
            "INSCRIPTIONS_DATA_KEYS is required in production: the keys that encrypt health answers and "
            "uploaded files (generate one with `inscriptions privacy new-key`; keep it outside the database "
            "and its backups)")


def load_settings(instance_path: Path) -> dict[str, object]:
    """Return the Flask config mapping built from the environment."""
    default_db = f"sqlite:///{instance_path / 'inscriptions.sqlite3'}"
    mail_backend = _env("MAIL_BACKEND", "file")
    return {
        "SECRET_KEY": _secret_key(instance_path),
        "SQLALCHEMY_DATABASE_URI": _env("DATABASE_URL", default_db),
        "SQLALCHEMY_ENGINE_OPTIONS": _engine_options(),
        "PLUGINS_DIR": Path(_env("PLUGINS_DIR", str(PROJECT_ROOT / "plugins"))),
        "TOWN_FILE": Path(_env("TOWN_FILE", str(PROJECT_ROOT / "town" / "town.yaml"))),
        "UPLOAD_DIR": Path(_env("UPLOAD_DIR", str(instance_path / "uploads"))),
        # Keys sealing health answers and uploaded files (inscriptions.privacy.sealing).
        "DATA_KEYS": _env("DATA_KEYS", ""),
        "MAX_CONTENT_LENGTH": int(_env("MAX_UPLOAD_MB", "10")) * 1024 * 1024,
        # Where the nightly pg_dump files are written; `inscriptions backup check` restores the newest.
        "BACKUP_DIR": Path(backup_dir) if (backup_dir := _env("BACKUP_DIR")) else None,
        # Where each seal of the audit journal records the chain's head, outside the database, so
        # that `inscriptions audit verify` sees entries deleted at its very end (privacy.integrity).
        "AUDIT_HEAD_FILE": Path(_env("AUDIT_HEAD_FILE", str(instance_path / "audit-head.json"))),
        # Development writes e-mails to files; production sets smtp.
        "MAIL_BACKEND": mail_backend,
        "MAIL_FILE_PATH": _env("MAIL_FILE_PATH", str(instance_path / "mail")),
        "MAIL_SERVER": _env("SMTP_HOST", "localhost"),
        "MAIL_PORT": int(_env("SMTP_PORT", "25")),
        "MAIL_USERNAME": _env("SMTP_USER"),
        "MAIL_PASSWORD": _env("SMTP_PASSWORD"),
        "MAIL_USE_TLS": _env("SMTP_STARTTLS", "0") == "1",
        "MAIL_USE_SSL": _env("SMTP_SSL", "0") == "1",
        # Slow work: "inline" runs jobs in-process after the commit, "rq" queues them in Redis.
        "JOBS_BACKEND": _env("JOBS_BACKEND", "inline"),
        # inline: the request that records an application runs the service's allocator pass
        # itself (under the service's lock) and shows the outcome at once; worker: requests only
        # record, and `inscriptions allocation worker` decides (opening mornings, several servers).
        "ALLOCATION": _env("ALLOCATION", "inline"),
        # The opening-morning send answered before Flask when all is in order (worker allocation
        # on PostgreSQL: inscriptions.quick_send); 0 sends everything through the full path.
        "QUICK_SEND": _env("QUICK_SEND", "1") == "1",
        "JOBS_QUEUE": _env("JOBS_QUEUE", "inscriptions"),
        # Seconds a message handed to the jobs backend may stay unsent before it is handed over
        # again (inscriptions.outbox): Redis emptied, a worker killed.
        "OUTBOX_RELAY_AGAIN_S": int(_env("OUTBOX_RELAY_AGAIN_S", "120") or "120"),
        "REDIS_URL": _env("REDIS_URL", "redis://127.0.0.1:6379/0"),
        # The site's address, for links in messages built outside a request (cron, RQ workers).
        "PUBLIC_URL": _env("PUBLIC_URL"),
        "BABEL_DEFAULT_LOCALE": "fr",
        "BABEL_DEFAULT_TIMEZONE": _env("TIMEZONE", "Europe/Paris"),
        "BABEL_TRANSLATION_DIRECTORIES": str(Path(__file__).parent / "translations"),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _secure_cookies(),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": _secure_cookies(),
        "REMEMBER_COOKIE_DURATION": dt.timedelta(days=30),
        # Host names the site answers to (comma-separated; Flask refuses others with a 400).
        "TRUSTED_HOSTS": [h.strip() for h in (_env("TRUSTED_HOSTS") or "").split(",") if h.strip()] or None,
        # Strict-Transport-Security is sent when cookies are secure (the site is served over HTTPS).
        "HSTS_MAX_AGE": int(_env("HSTS_MAX_AGE", "31536000") or 0),
        # Reverse proxies in front of the app whose X-Forwarded-For/-Proto are trusted (0: none).
        "PROXY_COUNT": int(_env("PROXY_COUNT", "0") or 0),
        # Log-in and password-reset rate limits (Flask-Limiter). Memory storage is per process:
        # production sets a Redis URL so every worker and machine shares the counters.
        # Read per request (not Flask-Limiter's own RATELIMIT_ENABLED, which is process-wide).
        "RATE_LIMITS_ENABLED": _env("RATELIMIT_ENABLED", "1") == "1",
        "RATELIMIT_STORAGE_URI": _env("RATELIMIT_STORAGE_URL", "memory://"),
        "RATELIMIT_HEADERS_ENABLED": True,
        # Redis down: let log-ins through (and log it) rather than lock every family out.
        "RATELIMIT_SWALLOW_ERRORS": True,
        "RATELIMIT_KEY_PREFIX": "inscriptions-limits",
        "LOGIN_LIMIT_PER_IP": _env("LOGIN_LIMIT_PER_IP", "30 per minute;300 per hour"),
        # Longer pauses as wrong passwords add up (only attempts that reached the password check
        # count); the owner gets a link to log in all the same (inscriptions.auth.unlock).
        "LOGIN_LIMIT_PER_ACCOUNT": _env("LOGIN_LIMIT_PER_ACCOUNT", "5 per minute;10 per 15 minutes;30 per day"),
        "RESET_LIMIT_PER_IP": _env("RESET_LIMIT_PER_IP", "10 per hour"),
        "SIGNUP_LIMIT_PER_IP": _env("SIGNUP_LIMIT_PER_IP", "20 per hour"),
        # A password-reset link works once, for this many seconds.
        "PASSWORD_RESET_MAX_AGE": int(_env("PASSWORD_RESET_MAX_AGE", "3600") or 3600),
        # The link e-mailed when an account's log-in is locked by wrong passwords (auth.unlock).
        "LOGIN_UNLOCK_MAX_AGE": int(_env("LOGIN_UNLOCK_MAX_AGE", "3600") or 3600),
        # A sign-up confirmation link (sent by e-mail) works for this many seconds.
        "SIGNUP_CONFIRM_MAX_AGE": int(_env("SIGNUP_CONFIRM_MAX_AGE", "172800") or 172800),
        "WTF_CSRF_TIME_LIMIT": None,
    }
