"""gunicorn settings for production: `gunicorn idp.wsgi:application` (INTERFACE.md)."""

import multiprocessing
import os
import shutil
import tempfile
from pathlib import Path

bind = os.getenv("GUNICORN_BIND", "0.0.0.0:8000")
# Chosen from `make bench` (docs/performance.md, "Worker class"): processes for CPU, threads for waiting.
# Every request is CPU-bound Python except the sign-in callback, which waits ~200 ms on the upstream
# (token, then userinfo). Two processes per core keep both cores busy despite the GIL; 8 threads each let
# 16 callbacks per core wait on upstreams at once without holding back token and page requests. A sync
# worker would sit idle through each callback; with gthread 4x4 the sign-ins queued behind callbacks.
worker_class = os.getenv("GUNICORN_WORKER_CLASS", "gthread")
workers = int(os.getenv("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2))
threads = int(os.getenv("GUNICORN_THREADS", 8))
timeout = 30
graceful_timeout = 30
keepalive = 5
accesslog = "-"
# Never log query strings: authorization codes and states travel in them.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(L)ss'
forwarded_allow_ips = os.getenv("FORWARDED_ALLOW_IPS", "127.0.0.1")

# Prometheus multiprocess mode (idp/metrics.py): every worker writes its metrics to files under
# PROMETHEUS_MULTIPROC_DIR and /metrics adds up the files of all workers. It must be set here, before any
# worker imports prometheus_client. Without it, a private directory lives as long as this server.
_METRICS_DIR_OWNED = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _METRICS_DIR_OWNED:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="gatehouse-metrics-")


def on_starting(server):
    """Counters start from zero: files of an earlier run of this server would be counted again."""
    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _METRICS_DIR_OWNED:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
