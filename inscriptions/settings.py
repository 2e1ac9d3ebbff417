"""Application settings, read from ``INSCRIPTIONS_*`` environment variables.

Everything a town changes about *itself* (name, logo, colours, contacts) lives in the town file
(see :mod:`inscriptions.town`); this module holds the technical settings.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

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
        "MAX_CONTENT_LENGTH": int(_env("MAX_UPLOAD_MB", "10")) * 1024 * 1024,
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
        "JOBS_QUEUE": _env("JOBS_QUEUE", "inscriptions"),
        "REDIS_URL": _env("REDIS_URL", "redis://127.0.0.1:6379/0"),
        # The site's address, for links in messages built outside a request (cron, RQ workers).
        "PUBLIC_URL": _env("PUBLIC_URL"),
        "BABEL_DEFAULT_LOCALE": "fr",
        "BABEL_DEFAULT_TIMEZONE": _env("TIMEZONE", "Europe/Paris"),
        "BABEL_TRANSLATION_DIRECTORIES": str(Path(__file__).parent / "translations"),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _env("SECURE_COOKIES", "0") == "1",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "WTF_CSRF_TIME_LIMIT": None,
    }
