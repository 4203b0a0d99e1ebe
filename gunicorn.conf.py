"""gunicorn settings for production: `gunicorn idp.wsgi:application` (INTERFACE.md)."""

import multiprocessing
import os

bind = os.getenv("GUNICORN_BIND", "0.0.0.0:8000")
# Threads let a worker keep serving while one request waits on an upstream provider (a sign-in
# callback calls Google/Kakao over the network); `bench/` will refine these figures.
worker_class = "gthread"
workers = int(os.getenv("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2))
threads = int(os.getenv("GUNICORN_THREADS", 4))
timeout = 30
graceful_timeout = 30
keepalive = 5
accesslog = "-"
# Never log query strings: authorization codes and states travel in them.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(L)ss'
forwarded_allow_ips = os.getenv("FORWARDED_ALLOW_IPS", "127.0.0.1")
