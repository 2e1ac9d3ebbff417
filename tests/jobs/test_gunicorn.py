"""Production serving: gunicorn.conf.py gives sane values, and the real app runs under gunicorn."""

from __future__ import annotations

import os
import runpy
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from inscriptions.settings import PROJECT_ROOT

CONF = PROJECT_ROOT / "gunicorn.conf.py"
GUNICORN = Path(sys.executable).with_name("gunicorn")
ENV_KEYS = ("INSCRIPTIONS_BIND", "PORT", "INSCRIPTIONS_WEB_WORKERS", "WEB_CONCURRENCY", "INSCRIPTIONS_WEB_THREADS",
            "INSCRIPTIONS_DB_POOL_SIZE", "INSCRIPTIONS_DB_MAX_OVERFLOW", "INSCRIPTIONS_MAX_REQUESTS")
# Starting gunicorn imports Flask, loads the services and the town: slow on a busy 2-core machine.
STARTUP_TIMEOUT_S = 90


def load_conf(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict[str, Any]:
    for key in ENV_KEYS:
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return runpy.run_path(str(CONF))


def gunicorn_config(namespace: dict[str, Any]) -> Any:
    """Feed the file's values to gunicorn's own validators, as ``gunicorn -c`` does."""
    from gunicorn.config import Config

    cfg = Config()
    for name, value in namespace.items():
        if name in cfg.settings:
            cfg.set(name, value)
    return cfg


def test_defaults_are_sane(monkeypatch) -> None:
    ns = load_conf(monkeypatch)
    cfg = gunicorn_config(ns)
    cores = len(os.sched_getaffinity(0))
    assert cfg.workers == 2 * cores + 1 >= 1
    assert cfg.threads == 4
    assert cfg.worker_class_str == "gthread"
    assert cfg.bind == ["127.0.0.1:8000"]
    assert cfg.preload_app is False
    assert cfg.max_requests > 0 and 0 < cfg.max_requests_jitter < cfg.max_requests
    assert cfg.timeout >= 10
    assert cfg.accesslog == "-"
    assert cfg.wsgi_app == "wsgi:app"
    # Each worker's database pool matches its threads unless the operator chose a size.
    assert cfg.env == {"INSCRIPTIONS_DB_POOL_SIZE": "4", "INSCRIPTIONS_DB_MAX_OVERFLOW": "2"}


def test_environment_overrides(monkeypatch) -> None:
    cfg = gunicorn_config(load_conf(
        monkeypatch, PORT="9123", INSCRIPTIONS_WEB_WORKERS="3", INSCRIPTIONS_WEB_THREADS="1",
        INSCRIPTIONS_DB_POOL_SIZE="8", INSCRIPTIONS_MAX_REQUESTS="0",
    ))
    assert cfg.bind == ["0.0.0.0:9123"]
    assert cfg.workers == 3
    assert cfg.worker_class_str == "sync"
    assert cfg.max_requests == 0
    assert cfg.env == {"INSCRIPTIONS_DB_MAX_OVERFLOW": "2"}  # the chosen pool size is kept

    cfg = gunicorn_config(load_conf(monkeypatch, PORT="9123", WEB_CONCURRENCY="2",
                                    INSCRIPTIONS_BIND="unix:/run/inscriptions.sock, 10.0.0.5:8000"))
    assert cfg.bind == ["unix:/run/inscriptions.sock", "10.0.0.5:8000"]
    assert cfg.workers == 2


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.server
def test_real_app_serves_under_gunicorn(db_url: str, tmp_path: Path) -> None:
    if not GUNICORN.exists():
        pytest.skip(f"gunicorn is not installed in {GUNICORN.parent}")
    port = _free_port()
    env = {key: value for key, value in os.environ.items() if key not in ENV_KEYS}
    env.update(
        INSCRIPTIONS_BIND=f"127.0.0.1:{port}",
        INSCRIPTIONS_WEB_WORKERS="2",
        INSCRIPTIONS_WEB_THREADS="2",
        INSCRIPTIONS_DATABASE_URL=db_url,
        INSCRIPTIONS_SECRET_KEY="gunicorn-test-key",
        INSCRIPTIONS_PUBLIC_URL=f"http://127.0.0.1:{port}",
        INSCRIPTIONS_DATA_KEYS=os.environ["INSCRIPTIONS_DATA_KEYS"],
        INSCRIPTIONS_UPLOAD_DIR=str(tmp_path / "uploads"),
        INSCRIPTIONS_MAIL_BACKEND="locmem",
        INSCRIPTIONS_JOBS_BACKEND="inline",
    )
    log_path = tmp_path / "gunicorn.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(  # noqa: S603 - our own gunicorn, fixed arguments
            [str(GUNICORN), "-c", str(CONF), "wsgi:app"],
            cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        status, body = _wait_for(f"http://127.0.0.1:{port}/", server, log_path)
        assert status == 200
        assert "<html" in body.lower()
        # The access log line carries the request time (our format), proving the file was used.
        assert _wait_until(lambda: ' "GET / HTTP/1.1" 200 ' in log_path.read_text(errors="replace"))
        # A searched name never reaches the log: the path is logged without its query string.
        before = log_path.read_text(errors="replace").count(' "GET / HTTP/1.1" 200 ')
        assert _wait_for(f"http://127.0.0.1:{port}/?q=Durand-Lefebvre", server, log_path)[0] == 200
        assert _wait_until(lambda: log_path.read_text(errors="replace").count(' "GET / HTTP/1.1" 200 ') > before)
        assert "Durand-Lefebvre" not in log_path.read_text(errors="replace")
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    assert server.returncode == 0, log_path.read_text(errors="replace")


def _wait_for(url: str, server: subprocess.Popen[bytes], log_path: Path) -> tuple[int, str]:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"gunicorn exited with {server.returncode}:\n{log_path.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - local http URL
                return response.status, response.read().decode()
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.25)
    pytest.fail(f"gunicorn did not answer within {STARTUP_TIMEOUT_S}s:\n{log_path.read_text(errors='replace')}")


def _wait_until(check: Any, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False
