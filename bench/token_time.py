"""Time the client-credentials token request with Gatehouse's fast secret hasher and with DOT's default.

Usage: .venv/bin/python bench/token_time.py [requests]   (or: make bench)
Each hasher runs in a fresh process on a throwaway SQLite database, in-process through Django's full
middleware and django-oauth-toolkit stack (no HTTP server: `bench/` grows a gunicorn+wrk run later).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def measure(requests: int) -> dict:
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client

    from clients.services import client_register

    call_command("migrate", verbosity=0)
    registered = client_register(name="bench", redirect_uris=[], grant="client-credentials", scopes=["gatehouse:admin"])
    client = Client()
    data = {
        "grant_type": "client_credentials",
        "client_id": registered.application.client_id,
        "client_secret": registered.client_secret,
    }
    for _ in range(5):  # warm-up: imports, key loading, connection
        assert client.post("/o/token/", data).status_code == 200
    timings = []
    for _ in range(requests):
        start = time.perf_counter()
        response = client.post("/o/token/", data)
        timings.append(time.perf_counter() - start)
        assert response.status_code == 200, response.content
    timings.sort()
    return {
        "hasher": os.environ["GATEHOUSE_CLIENT_SECRET_HASHER"],
        "requests": requests,
        "mean_ms": statistics.mean(timings) * 1000,
        "p50_ms": timings[len(timings) // 2] * 1000,
        "p99_ms": timings[min(len(timings) - 1, int(len(timings) * 0.99))] * 1000,
    }


def main() -> None:
    requests = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    rows = []
    for hasher in ("gatehouse_sha256", "default"):
        with tempfile.TemporaryDirectory() as tmp:
            env = {
                **os.environ,
                "DJANGO_SETTINGS_MODULE": "idp.settings",
                "DEBUG": "1",
                "SECRET_KEY": "bench-" + "x" * 40,
                "DATABASE_URL": f"sqlite:///{tmp}/bench.sqlite3",
                "GATEHOUSE_CLIENT_SECRET_HASHER": hasher,
                "GATEHOUSE_LOG_LEVEL": "ERROR",
                "ALLOWED_HOSTS": "testserver",
            }
            n = requests if hasher != "default" else max(20, requests // 10)
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(n)], cwd=ROOT, env=env, check=True, capture_output=True, text=True
            ).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
    print(f"{'hasher':<18} {'requests':>8} {'mean ms':>9} {'p50 ms':>8} {'p99 ms':>8} {'tokens/s (1 core)':>18}")
    for row in rows:
        print(
            f"{row['hasher']:<18} {row['requests']:>8} {row['mean_ms']:>9.2f} {row['p50_ms']:>8.2f} "
            f"{row['p99_ms']:>8.2f} {1000 / row['mean_ms']:>18.1f}"
        )


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        sys.path.insert(0, str(ROOT))
        print(json.dumps(measure(int(sys.argv[2]))))
    else:
        main()
