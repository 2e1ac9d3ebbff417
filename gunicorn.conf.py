"""Gunicorn settings for production: ``gunicorn wsgi:app`` (this file is read from the working
directory; elsewhere pass ``-c /path/to/gunicorn.conf.py``). See docs/production.md.

Every value can be changed with an environment variable, so the same file serves a small town on
one machine and a big one on several:

================================  ============================================  ==================
variable                          meaning                                       default
================================  ============================================  ==================
``INSCRIPTIONS_BIND``             address(es), comma separated, or unix:PATH    ``127.0.0.1:8000``
``PORT``                          port on all interfaces (container platforms)  (unused)
``INSCRIPTIONS_WEB_WORKERS``      worker processes (also ``WEB_CONCURRENCY``)   2 x cores + 1
``INSCRIPTIONS_WEB_THREADS``      threads per worker                            4
``INSCRIPTIONS_WEB_CONNECTIONS``  connections a worker accepts at once          2 x threads
``INSCRIPTIONS_WEB_TIMEOUT``      seconds before a silent worker is restarted   30
``INSCRIPTIONS_WEB_KEEPALIVE``    seconds to keep an idle connection open       5
``INSCRIPTIONS_MAX_REQUESTS``     requests before a worker is recycled          2000 (0 = never)
``INSCRIPTIONS_ACCESS_LOG``       access log file, ``-`` for stdout             ``-``
``INSCRIPTIONS_ERROR_LOG``        error log file, ``-`` for stderr              ``-``
``INSCRIPTIONS_LOG_LEVEL``        gunicorn's log level                          ``info``
================================  ============================================  ==================
"""

from __future__ import annotations

import os


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def _cores() -> int:
    # The cores this process may use (a container may have fewer than the machine).
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _bind() -> list[str]:
    explicit = os.environ.get("INSCRIPTIONS_BIND", "").strip()
    if explicit:
        return [address.strip() for address in explicit.split(",") if address.strip()]
    port = os.environ.get("PORT", "").strip()
    if port:
        # Platforms that set PORT route outside traffic to it: listen on every interface.
        return [f"0.0.0.0:{int(port)}"]
    # Default: only the local reverse proxy / load balancer agent may connect.
    return ["127.0.0.1:8000"]


wsgi_app = "wsgi:app"
bind = _bind()

# Requests are short and mostly wait on PostgreSQL: several processes use every core, and a few
# threads per process keep a core busy while another request waits on the database.
workers = max(1, _int("INSCRIPTIONS_WEB_WORKERS", _int("WEB_CONCURRENCY", 2 * _cores() + 1)))
threads = max(1, _int("INSCRIPTIONS_WEB_THREADS", 4))
worker_class = "gthread" if threads > 1 else "sync"
# Connections a gthread worker takes before its threads are free (gunicorn's default, 1,000,
# lets one worker swallow a burst and queue it behind its own threads while the others idle):
# a few per thread; the rest wait in the listen backlog for whichever worker frees up first.
worker_connections = max(threads, _int("INSCRIPTIONS_WEB_CONNECTIONS", 2 * threads))

# Each worker needs at most one database connection per thread. Unless set explicitly, the
# pool is sized to the threads, so the connection budget is workers x (threads + overflow).
_pool_env = []
if not os.environ.get("INSCRIPTIONS_DB_POOL_SIZE"):
    _pool_env.append(f"INSCRIPTIONS_DB_POOL_SIZE={threads}")
if not os.environ.get("INSCRIPTIONS_DB_MAX_OVERFLOW"):
    _pool_env.append("INSCRIPTIONS_DB_MAX_OVERFLOW=2")
raw_env = _pool_env

# Off: every worker builds its own application after the fork, hence its own database pool
# (connections must never be shared between processes). Code reloads need a restart anyway.
preload_app = False

timeout = _int("INSCRIPTIONS_WEB_TIMEOUT", 30)
graceful_timeout = 30
# Longer than most load balancers' probes, shorter than their idle time-out (often 60 s).
keepalive = _int("INSCRIPTIONS_WEB_KEEPALIVE", 5)

# Recycle workers now and then so a slow leak never grows; the jitter keeps them from all
# restarting at the same moment (which would stall an opening morning).
max_requests = _int("INSCRIPTIONS_MAX_REQUESTS", 2000)
max_requests_jitter = max(0, max_requests // 10)

# A heartbeat file on a disk-backed /tmp can stall under I/O load; memory is safer.
_SHM = "/dev/shm"  # noqa: S108 - gunicorn's documented advice, not a temporary file of ours
if os.path.isdir(_SHM):
    worker_tmp_dir = _SHM

accesslog = os.environ.get("INSCRIPTIONS_ACCESS_LOG", "-")
errorlog = os.environ.get("INSCRIPTIONS_ERROR_LOG", "-")
loglevel = os.environ.get("INSCRIPTIONS_LOG_LEVEL", "info")
# Client (as seen by the proxy), request, status, size and time taken in milliseconds. The
# request is its method, path and protocol, never its query string: a counter's search
# (``/guichet/?q=<surname>``) would otherwise keep families' names in the logs for months.
access_log_format = '%({x-forwarded-for}i)s %(h)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms "%(a)s"'
proc_name = "inscriptions"
# Bounded request lines and headers: a defence against oversized requests.
limit_request_line = 8190
limit_request_fields = 100
