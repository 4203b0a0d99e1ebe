"""gunicorn settings for `make bench`: the production gunicorn.conf.py, plus SQL counting in each worker."""

import os
import runpy
from pathlib import Path

# Everything the production file sets (worker class and count, threads, timeouts, logging) applies unchanged.
globals().update(
    {k: v for k, v in runpy.run_path(str(Path(__file__).resolve().parents[1] / "gunicorn.conf.py")).items()
     if not k.startswith("__")}
)


def post_fork(server, worker):
    from bench import sqlcount

    sqlcount.install(os.environ["BENCH_STATS_DIR"])
