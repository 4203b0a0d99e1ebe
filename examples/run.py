"""`make examples`: Gatehouse and the two example apps on loopback ports, wired together.

    python examples/run.py [--gatehouse-port 8000] [--webapp-port 8001] [--spa-port 8002]

1. migrates Gatehouse's database and registers both examples there (`manage.py exampleclients`,
   idempotent: the same client ids every run, a fresh secret for the web app);
2. migrates each example's own SQLite database;
3. serves all three, each output line prefixed with its name, until Ctrl-C.

Gatehouse runs as `make run` runs it (DEBUG=1, the development upstream), reading the same environment,
so SOCIAL_AUTH_OIDC_OIDC_ENDPOINT and friends plug a real upstream in. Runs with the Python it is
started with (the Makefile uses Gatehouse's .venv, which has every example's pinned dependencies).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def _run(args: list[str], *, cwd: Path, env: dict[str, str]) -> str:
    result = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"{' '.join(args)} failed in {cwd}")
    return result.stdout


def _pipe(name: str, stream) -> None:
    for line in stream:
        sys.stdout.write(f"[{name}] {line}")
        sys.stdout.flush()


def _wait_until_up(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{url} stopped before answering")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within {timeout:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--gatehouse-port", type=int, default=8000)
    parser.add_argument("--webapp-port", type=int, default=8001)
    parser.add_argument("--spa-port", type=int, default=8002)
    parser.add_argument("--var", type=Path, default=ROOT / "var" / "examples", help="the examples' databases")
    options = parser.parse_args()

    gatehouse_url = f"http://{options.host}:{options.gatehouse_port}"
    webapp_url = f"http://{options.host}:{options.webapp_port}"
    spa_url = f"http://{options.host}:{options.spa_port}"
    options.var.mkdir(parents=True, exist_ok=True)

    base = {**os.environ, "PYTHONUNBUFFERED": "1", "GATEHOUSE_URL": gatehouse_url}
    gatehouse_env = {**base, "DEBUG": "1"}
    gatehouse_env.setdefault("GATEHOUSE_DEV_LOGIN", "1")
    examples_env = {
        **base,
        "WEBAPP_URL": webapp_url,
        "SPA_URL": spa_url,
        "WEBAPP_DB": str(options.var / "webapp.sqlite3"),
        "SPA_DB": str(options.var / "spa.sqlite3"),
    }
    # Only Gatehouse reads these; never hand an example another database.
    examples_env.pop("DATABASE_URL", None)

    print(f"Preparing Gatehouse at {gatehouse_url} and registering the examples…", flush=True)
    _run(["manage.py", "migrate", "--noinput"], cwd=ROOT, env=gatehouse_env)
    register = ["manage.py", "exampleclients", "--webapp-url", webapp_url, "--spa-url", spa_url]
    registered = json.loads(_run(register, cwd=ROOT, env=gatehouse_env))
    examples_env.update({
        "WEBAPP_CLIENT_ID": registered["webapp"]["client_id"],
        "WEBAPP_CLIENT_SECRET": registered["webapp"]["client_secret"],
        "SPA_CLIENT_ID": registered["spa"]["client_id"],
    })  # fmt: skip
    for app in ("webapp", "spa"):
        _run(["manage.py", "migrate", "--noinput"], cwd=EXAMPLES / app, env=examples_env)

    servers = [
        ("gatehouse", ROOT, gatehouse_env, options.gatehouse_port, f"{gatehouse_url}/healthz"),
        ("webapp", EXAMPLES / "webapp", examples_env, options.webapp_port, f"{webapp_url}/"),
        ("spa", EXAMPLES / "spa", examples_env, options.spa_port, f"{spa_url}/"),
    ]
    processes: list[subprocess.Popen] = []

    def stop(code: int = 0) -> None:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
        raise SystemExit(code)

    signal.signal(signal.SIGTERM, lambda *_: stop(0))
    signal.signal(signal.SIGINT, lambda *_: stop(0))
    for name, cwd, env, port, _ in servers:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", f"{options.host}:{port}", "--noreload"],
            cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        processes.append(process)
        threading.Thread(target=_pipe, args=(name, process.stdout), daemon=True).start()
    try:
        for (_, _, _, _, url), process in zip(servers, processes):
            _wait_until_up(url, process)
    except SystemExit as failure:
        print(failure, file=sys.stderr, flush=True)
        stop(1)

    print(
        "\n".join([
            "",
            "== Ready ==",
            f"  Gatehouse                {gatehouse_url}",
            f"  Example web app          {webapp_url}   (Django + Authlib, confidential client)",
            f"  Example single-page app  {spa_url}   (plain JavaScript, public client, with an API)",
            "Sign in to one, open the other (no second sign-in), then sign out everywhere. Ctrl-C stops all three.",
            "",
        ]),
        flush=True,
    )  # fmt: skip
    while all(process.poll() is None for process in processes):
        time.sleep(0.5)
    print("A server stopped; stopping the others.", file=sys.stderr, flush=True)
    stop(1)


if __name__ == "__main__":
    main()
