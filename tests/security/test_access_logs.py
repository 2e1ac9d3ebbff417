"""No family data in the web servers' logs.

The counter's search is ``GET /guichet/?q=<surname>`` (and the API's ``/api/v1/households?q=``):
a log line holding the query string, or the ``Referer`` of the next page (the search's URL),
would keep families' names for months, out of reach of any erasure. gunicorn's access log
(``gunicorn.conf.py``) and the nginx configuration of docs/production.md write the path alone.
tests/jobs/test_gunicorn.py checks it on a real gunicorn; here each line is made by gunicorn's own
logger, and the documented nginx configuration is read.
"""

from __future__ import annotations

import datetime as dt
import re
import runpy
from types import SimpleNamespace

from inscriptions.settings import PROJECT_ROOT

SEARCHED = "Zanzibaro"
# nginx variables that carry the query string or the referring page.
NGINX_LEAKS = re.compile(r"\$(request\b|request_uri|args|query_string|is_args|arg_\w+|http_referer)")


def _gunicorn_line(path: str, query: str, referer: str) -> str:
    from gunicorn.config import Config
    from gunicorn.glogging import Logger

    cfg = Config()
    cfg.set("access_log_format", runpy.run_path(str(PROJECT_ROOT / "gunicorn.conf.py"))["access_log_format"])
    logger = Logger(cfg)
    headers = [("X-FORWARDED-FOR", "203.0.113.9"), ("REFERER", referer), ("USER-AGENT", "Firefox")]
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": f"{path}?{query}", "PATH_INFO": path, "QUERY_STRING": query,
               "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1", "HTTP_REFERER": referer,
               "HTTP_USER_AGENT": "Firefox"}
    response = SimpleNamespace(status="200 OK", sent=1234, headers=[("Content-Type", "text/html")])
    atoms = logger.atoms_wrapper_class(logger.atoms(response, SimpleNamespace(headers=headers), environ,
                                                    dt.timedelta(milliseconds=42)))
    return cfg.access_log_format % atoms


def test_gunicorn_logs_a_search_without_the_name_searched() -> None:
    line = _gunicorn_line("/guichet/", f"q={SEARCHED}", f"https://inscriptions.example/guichet/?q={SEARCHED}")
    assert '"GET /guichet/ HTTP/1.1" 200 1234 42ms' in line  # the request is still logged
    assert SEARCHED not in line
    # The API's search and the next page after a search (its Referer) neither.
    assert SEARCHED not in _gunicorn_line("/api/v1/households", f"q={SEARCHED}", "-")
    assert SEARCHED not in _gunicorn_line("/guichet/foyers/12/acces", "next=/guichet/foyers/12",
                                          f"https://inscriptions.example/guichet/?q={SEARCHED}")


def _nginx_config() -> str:
    text = (PROJECT_ROOT / "docs" / "production.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```nginx\n(.*?)```", text, re.S)
    assert blocks, "docs/production.md has no nginx configuration"
    return "\n".join(blocks)


def test_the_documented_nginx_logs_no_query_string_nor_referer() -> None:
    config = _nginx_config()
    formats = dict(re.findall(r"log_format\s+(\w+)\s+((?:'[^']*'\s*)+);", config))
    assert formats, "the nginx configuration defines no log_format (nginx's default keeps the query string)"
    for name, spec in formats.items():
        assert not NGINX_LEAKS.findall(spec), f"log_format {name} writes {NGINX_LEAKS.findall(spec)}"
        assert "$uri" in spec, f"log_format {name} does not log the path"
    servers = re.split(r"\bserver\s*\{", config)[1:]
    assert servers
    for server in servers:
        # Every server logs through one of those formats (a server without access_log uses
        # nginx's default format, query string included), and logs errors at crit only (at
        # error, a failed upstream request is written with its whole request line).
        logs = re.findall(r"access_log\s+\S+\s+(\w+)\s*;", server)
        assert logs and set(logs) <= set(formats), server
        assert re.search(r"error_log\s+\S+\s+(crit|alert|emerg)\s*;", server), server
