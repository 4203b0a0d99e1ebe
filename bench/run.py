"""`make bench`: Gatehouse under gunicorn with its production settings, driven by wrk, on PostgreSQL and SQLite.

For each database: a throwaway database is created and migrated, bench/prepare.py makes the clients and
single-use credentials, gunicorn starts with the production gunicorn.conf.py (bench/gunicorn_bench.py adds
only SQL counting), and each workload runs for a warm-up and then a measured period with wrk and the Lua
scripts of bench/lua/. The baseline is the most trivial Django view under the same gunicorn settings
(bench/trivial_wsgi.py); another is the client-credentials grant with django-oauth-toolkit's default
client-secret hashing (PBKDF2). Also measured: local validation of JWT access tokens by a resource server
(gatehouse_rs) and `cleartokens` on one million expired tokens. The table goes to stdout and, with the
machine's description, to bench/RESULTS.md.

Usage: .venv/bin/python bench/run.py [--seconds 10] [--databases postgresql,sqlite] [--output bench/RESULTS.md]
Environment: BENCH_PG (default postgres://postgres@127.0.0.1:5432/postgres), GUNICORN_WORKERS,
GUNICORN_THREADS, GUNICORN_WORKER_CLASS (to compare worker settings; gunicorn.conf.py reads them).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
LUA = BENCH / "lua"
PYTHON = sys.executable
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
sys.path.insert(0, str(ROOT))

from bench import sqlcount  # noqa: E402
from bench.stub_upstream import CLIENT_ID as UPSTREAM_CLIENT_ID  # noqa: E402
from bench.stub_upstream import CLIENT_SECRET as UPSTREAM_CLIENT_SECRET  # noqa: E402

# Throughput workloads keep every gunicorn thread busy; wrk itself needs one thread (its CPU is reported).
CONNECTIONS = 32
TRIVIAL = "trivial Django view, startproject middleware (baseline)"
SIGNIN_CONCURRENCY = int(os.getenv("BENCH_SIGNIN_CONCURRENCY", "24"))
# Each sign-in thread signs in its own people; with this many people most sign-ins are of returning people.
SIGNIN_PEOPLE = 48


@dataclass
class Result:
    workload: str
    database: str
    rate: float  # requests (or sign-ins, or verifications) per second
    p50_ms: float | None
    p99_ms: float | None
    statements: float | None  # SQL statements per request
    rows: float | None  # rows written per request
    errors: int = 0
    generator_cpu: float | None = None  # wrk's CPU, in cores
    server_cpu: float | None = None  # gunicorn's CPU (master and workers), in cores
    database_cpu: float | None = None  # PostgreSQL's processes, in cores
    other_cpu: float | None = None  # everything else on the machine meanwhile (other people's work), in cores
    unit: str = "req/s"
    note: str = ""


@dataclass
class Workload:
    name: str
    script: str
    env: dict[str, str] = field(default_factory=dict)
    connections: int = CONNECTIONS
    threads: int = 1
    warmup_env: dict[str, str] | None = None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def machine_cpu() -> float:
    """CPU seconds the whole machine has been busy (all cores, /proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def settle(timeout: float = 20, idle_cores: float = 0.15) -> None:
    """Wait until the machine is idle (queued requests of the previous workload answered, autovacuum
    done), at most `timeout` seconds, so that no workload pays for the one before."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = machine_cpu()
        time.sleep(0.5)
        if (machine_cpu() - before) / 0.5 < idle_cores:
            return


def postgres_cpu() -> float:
    """CPU seconds used so far by every PostgreSQL process (the server is shared, so this is approximate)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        if "(postgres)" in text:
            fields = text.rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def process_tree_cpu(pid: int) -> float:
    """CPU seconds used so far by a process and its children (gunicorn's master and workers)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        proc_pid, parent = int(stat.parent.name), int(fields[1])
        if proc_pid == pid or parent == pid:
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


class Server:
    """gunicorn with the production configuration, on a port of its own."""

    def __init__(self, app: str, env: dict[str, str], log: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.env = {**env, "GUNICORN_BIND": f"127.0.0.1:{self.port}"}
        self.stats = Path(tempfile.mkdtemp(prefix="gatehouse-bench-stats-"))
        self.env["BENCH_STATS_DIR"] = str(self.stats)
        self.log = log.open("ab")
        self.process = subprocess.Popen(
            [GUNICORN, "-c", str(BENCH / "gunicorn_bench.py"), app],
            cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()
        shutil.rmtree(self.stats, ignore_errors=True)


def run_wrk(server: Server, workload: Workload, seconds: float) -> dict:
    env = {**os.environ, "BENCH_LUA_DIR": str(LUA), "BENCH_THREADS": str(workload.threads), **workload.env}
    cmd = ["wrk", "-t", str(workload.threads), "-c", str(workload.connections), "-d", f"{max(1, round(seconds))}s",
           "--timeout", "10s", "-s", str(LUA / workload.script), server.url]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    line = next((line for line in out.splitlines() if line.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result for {workload.name}:\n{out}")
    return json.loads(line.removeprefix("BENCH_JSON "))


def measure(server: Server, workload: Workload, database: str, seconds: float, warmup: float) -> Result:
    if workload.warmup_env is not None or warmup:
        warm = Workload(workload.name, workload.script, {**workload.env, **(workload.warmup_env or {})},
                        workload.connections, workload.threads)
        run_wrk(server, warm, warmup)
    sql_before = sqlcount.read_totals(str(server.stats))
    cpu_before, pg_before, machine_before = process_tree_cpu(server.process.pid), postgres_cpu(), machine_cpu()
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    data = run_wrk(server, workload, seconds)
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_after, pg_after, machine_after = process_tree_cpu(server.process.pid), postgres_cpu(), machine_cpu()
    sql_after = sqlcount.read_totals(str(server.stats))
    duration = data["duration_us"] / 1e6
    wrk_cpu = (children_after.ru_utime + children_after.ru_stime
               - children_before.ru_utime - children_before.ru_stime) / duration
    server_cpu, pg_cpu = (cpu_after - cpu_before) / duration, (pg_after - pg_before) / duration
    other = max((machine_after - machine_before) / duration - server_cpu - pg_cpu - wrk_cpu, 0.0)
    cpu = {"generator_cpu": wrk_cpu, "server_cpu": server_cpu, "database_cpu": pg_cpu, "other_cpu": other}
    units = data.get("flows", data["requests"])
    statements = (sql_after[0] - sql_before[0]) / units if units else None
    rows = (sql_after[1] - sql_before[1]) / units if units else None
    if "flows" in data:
        return Result(workload.name, database, data["flows"] / duration, data["flow_p50_us"] / 1000,
                      data["flow_p99_us"] / 1000, statements, rows, data["flow_failures"] + data["errors"],
                      unit="sign-ins/s", **cpu)
    return Result(workload.name, database, data["requests"] / duration, data["p50_us"] / 1000,
                  data["p99_us"] / 1000, statements, rows, data["errors"], **cpu)


def gatehouse_env(database_url: str, port: int, upstream_port: int) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR") or k.startswith("GUNICORN_")}
    return {
        **keep,
        "DJANGO_SETTINGS_MODULE": "idp.settings",
        "DEBUG": "0",
        "SECRET_KEY": "bench-secret-key-" + "b" * 40,
        "DATABASE_URL": database_url,
        # Plain http is allowed for loopback addresses only (idp/settings.py); the issuer is this URL.
        "GATEHOUSE_URL": f"http://127.0.0.1:{port}",
        "GATEHOUSE_RATE_LIMITS": "off",
        "SOCIAL_AUTH_OIDC_OIDC_ENDPOINT": f"http://127.0.0.1:{upstream_port}",
        "SOCIAL_AUTH_OIDC_KEY": UPSTREAM_CLIENT_ID,
        "SOCIAL_AUTH_OIDC_SECRET": UPSTREAM_CLIENT_SECRET,
        "PYTHONPATH": str(ROOT),
    }


def manage(env: dict[str, str], *args: str) -> str:
    return subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True,
                          capture_output=True, text=True).stdout


def prepare(env: dict[str, str], out: Path, *args: str) -> dict:
    stdout = subprocess.run([PYTHON, str(BENCH / "prepare.py"), str(out), *args], cwd=ROOT, env=env,
                            check=True, capture_output=True, text=True).stdout
    return json.loads(stdout.strip().splitlines()[-1])


def workloads(data: dict) -> list[Workload]:
    return [
        Workload("discovery", "static.lua", {"BENCH_PATH": "/.well-known/openid-configuration"}),
        Workload("JWKS", "static.lua", {"BENCH_PATH": "/o/.well-known/jwks.json"}),
        Workload("healthz (middleware + SELECT 1)", "static.lua", {"BENCH_PATH": "/healthz"}),
        Workload("client credentials (opaque)", "static.lua", {
            "BENCH_METHOD": "POST", "BENCH_PATH": "/o/token/", "BENCH_BODY": "grant_type=client_credentials",
            "BENCH_AUTH": data["service_auth"]}),
        Workload("client credentials (JWT)", "static.lua", {
            "BENCH_METHOD": "POST", "BENCH_PATH": "/o/token/", "BENCH_BODY": "grant_type=client_credentials",
            "BENCH_AUTH": data["service_jwt_auth"]}),
        Workload("client credentials, DOT default hasher", "static.lua", {
            "BENCH_METHOD": "POST", "BENCH_PATH": "/o/token/", "BENCH_BODY": "grant_type=client_credentials",
            "BENCH_AUTH": data["default_hasher_auth"]}, connections=4),
        Workload("authorization code exchange (PKCE)", "consume.lua",
                 {"BENCH_PATH": "/o/token/", "BENCH_DATA": data["codes"]},
                 warmup_env={"BENCH_DATA": data["codes_warmup"]}),
        Workload("refresh (rotation)", "consume.lua",
                 {"BENCH_PATH": "/o/token/", "BENCH_DATA": data["refresh"]},
                 warmup_env={"BENCH_DATA": data["refresh_warmup"]}),
        Workload("introspection", "static.lua", {
            "BENCH_METHOD": "POST", "BENCH_PATH": "/o/introspect/", "BENCH_BODY": urlencode({"token": data["bearer"]}),
            "BENCH_AUTH": data["web_auth"]}),
        Workload("userinfo", "static.lua", {"BENCH_PATH": "/o/userinfo/", "BENCH_AUTH": f"Bearer {data['bearer']}"}),
        Workload("federated sign-in (upstream answers in 100 ms)", "signin.lua", {
            "BENCH_CLIENT_ID": data["web_client_id"], "BENCH_REDIRECT_URI": data["redirect_uri"],
            "BENCH_VERIFIER": data["verifier"], "BENCH_CHALLENGE": data["challenge"],
            "BENCH_AUTH": data["web_auth"], "BENCH_PEOPLE": str(SIGNIN_PEOPLE)},
            connections=SIGNIN_CONCURRENCY, threads=SIGNIN_CONCURRENCY),
    ]


def jwt_validation(server: Server, data: dict) -> Result:
    """gatehouse_rs verifying JWT access tokens locally, single thread, one process (bench/verify_jwt.py)."""
    done = subprocess.run([PYTHON, str(BENCH / "verify_jwt.py"), server.url, data["service_jwt_auth"]],
                          cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if done.returncode:
        raise RuntimeError(f"bench/verify_jwt.py failed:\n{done.stderr}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    return Result("local JWT validation (gatehouse_rs, 1 core)", "-", figures["per_second"], figures["p50_ms"],
                  figures["p99_ms"], 0, 0, unit="verifications/s",
                  note=f"{figures['tokens']} distinct tokens, JWKS fetched {figures['jwks_fetches']}x")


def cleartokens(env: dict[str, str], database_url: str, rows: int) -> Result:
    """Delete `rows` expired access tokens with `manage.py cleartokens` (batches; settings in idp/settings.py)."""
    import psycopg

    with psycopg.connect(_libpq(database_url), autocommit=True) as conn:
        app_id, user_id = conn.execute(
            "SELECT application_id, user_id FROM oauth2_provider_accesstoken WHERE user_id IS NOT NULL LIMIT 1"
        ).fetchone()
        start = time.monotonic()
        salt = os.urandom(8).hex()  # checksums unique across runs on the same database
        conn.execute(
            "INSERT INTO oauth2_provider_accesstoken (token, token_checksum, application_id, user_id, expires, scope,"
            " resource, created, updated) SELECT '', md5(%s || 'x' || i) || md5(%s || 'y' || i), %s, %s,"
            " now() - interval '2 days', 'openid', '[]', now() - interval '3 days', now() - interval '3 days'"
            " FROM generate_series(1, %s) AS i", (salt, salt, app_id, user_id, rows))
        conn.execute("ANALYZE oauth2_provider_accesstoken")
        inserted = time.monotonic() - start
    start = time.monotonic()
    report = manage(env, "cleartokens").strip().splitlines()
    elapsed = time.monotonic() - start
    with psycopg.connect(_libpq(database_url), autocommit=True) as conn:
        left = conn.execute("SELECT count(*) FROM oauth2_provider_accesstoken WHERE expires < now()").fetchone()[0]
    return Result(f"cleartokens: {rows:,} expired access tokens", "postgresql", rows / elapsed, None, None,
                  None, None, errors=left, unit="rows deleted/s",
                  note=f"{elapsed:.1f} s; {report[-1] if report else ''} (rows made with INSERT ... "
                  f"generate_series in {inserted:.1f} s); {left} expired left")


def cleartokens_dot(env: dict[str, str], database_url: str, rows: int) -> Result:
    """The same, with django-oauth-toolkit's own clear_expired() (QuerySet.delete() per batch), for comparison."""
    import psycopg

    with psycopg.connect(_libpq(database_url), autocommit=True) as conn:
        app_id, user_id = conn.execute(
            "SELECT application_id, user_id FROM oauth2_provider_accesstoken WHERE user_id IS NOT NULL LIMIT 1"
        ).fetchone()
        salt = os.urandom(8).hex()
        conn.execute(
            "INSERT INTO oauth2_provider_accesstoken (token, token_checksum, application_id, user_id, expires, scope,"
            " resource, created, updated) SELECT '', md5(%s || 'x' || i) || md5(%s || 'y' || i), %s, %s,"
            " now() - interval '2 days', 'openid', '[]', now(), now() FROM generate_series(1, %s) AS i",
            (salt, salt, app_id, user_id, rows))
    start = time.monotonic()
    manage(env, "shell", "-c", "from oauth2_provider.models import clear_expired; clear_expired()")
    elapsed = time.monotonic() - start
    return Result(f"django-oauth-toolkit's clear_expired: {rows:,} tokens", "postgresql", rows / elapsed, None,
                  None, None, None, unit="rows deleted/s", note=f"{elapsed:.1f} s, for comparison")


def _libpq(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


def create_postgres() -> tuple[str, str]:
    import psycopg

    admin = os.getenv("BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = f"gatehouse_bench_{os.getpid()}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(admin)
    return name, parts._replace(path=f"/{name}").geturl()


def drop_postgres(name: str) -> None:
    import psycopg

    admin = os.getenv("BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def bench_database(database: str, args: argparse.Namespace, upstream_port: int, work: Path) -> list[Result]:
    results: list[Result] = []
    pg_name = None
    if database == "postgresql":
        pg_name, url = create_postgres()
    else:
        url = f"sqlite:///{work / 'bench.sqlite3'}"
    port = free_port()
    env = gatehouse_env(url, port, upstream_port)
    try:
        manage(env, "migrate", "--noinput")
        per_run = int(1500 * (args.seconds + args.warmup + 1))
        data = prepare(env, work / database, str(per_run), str(per_run))
        data.update(prepare({**env, "GATEHOUSE_CLIENT_SECRET_HASHER": "default"}, work / database,
                            "--default-hasher-client"))
        server = Server("idp.wsgi:application", env, work / f"gunicorn-{database}.log", port)
        try:
            wait_for(f"{server.url}/healthz")
            for workload in workloads(data):
                settle()
                result = measure(server, workload, database, args.seconds, args.warmup)
                results.append(result)
                print(format_row(result), flush=True)
            if database == args.databases[0]:
                settle()  # the sign-ins' backlog drains first: this measures one core, not a shared one
                result = jwt_validation(server, data)
                results.append(result)
                print(format_row(result), flush=True)
        finally:
            server.stop()
        if database == "postgresql" and args.cleartokens:
            for result in (cleartokens(env, url, args.cleartokens),
                           cleartokens_dot(env, url, max(args.cleartokens // 5, 1))):
                results.append(result)
                print(format_row(result), flush=True)
    finally:
        if pg_name:
            drop_postgres(pg_name)
    return results


def trivial_baseline(args: argparse.Namespace, work: Path, kind: str, name: str) -> Result:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG") or k.startswith("GUNICORN_")}
    env.update(PYTHONPATH=str(ROOT), BENCH_TRIVIAL=kind)
    server = Server("bench.trivial_wsgi:application", env, work / "gunicorn-trivial.log")
    try:
        wait_for(f"{server.url}/")
        result = measure(server, Workload(name, "static.lua"), "-", args.seconds, args.warmup)
    finally:
        server.stop()
    print(format_row(result), flush=True)
    return result


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def format_row(r: Result) -> str:
    return (f"{r.workload[:48]:<48} {r.database:<10} {_num(r.rate):>10} {r.unit:<16} {_num(r.p50_ms, 1):>8} "
            f"{_num(r.p99_ms, 1):>8} {_num(r.statements):>5} {_num(r.rows):>5} {r.errors:>6} "
            f"{_num(r.generator_cpu, 2):>5} {_num(r.server_cpu, 2):>6} {_num(r.database_cpu, 2):>5} "
            f"{_num(r.other_cpu, 2):>5}  {r.note}")


HEADER = (f"{'workload':<48} {'database':<10} {'rate':>10} {'unit':<16} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'SQL/r':>5} {'rows':>5} {'errors':>6} {'wrk':>5} {'server':>6} {'pg':>5} {'other':>5}")


def machine() -> dict[str, str]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    memory = next(line.split(":", 1)[1].strip() for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))
    os_name = next((line.split("=", 1)[1].strip('"') for line in Path("/etc/os-release").read_text().splitlines()
                    if line.startswith("PRETTY_NAME=")), platform.platform())
    wrk_version = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    gunicorn_conf = _gunicorn_settings()
    import django
    import oauth2_provider
    import psycopg

    try:
        with psycopg.connect(os.getenv("BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")) as conn:
            pg = conn.execute("SHOW server_version").fetchone()[0]
    except psycopg.Error:
        pg = "not reachable"
    return {
        "CPU": f"{cpu}, {os.cpu_count()} cores",
        "memory": memory,
        "OS": f"{os_name}, Linux {platform.release()}",
        "Python": platform.python_version(),
        "Django / django-oauth-toolkit": f"{django.get_version()} / {oauth2_provider.__version__}",
        "PostgreSQL": pg,
        "SQLite": sqlite3.sqlite_version,
        "load generator": f"{wrk_version.split(' [')[0]} (Lua scripts in bench/lua/), on the same machine",
        "gunicorn": gunicorn_conf,
    }


def _gunicorn_settings() -> str:
    import runpy

    conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    threads = f" x {conf['threads']} threads" if conf["worker_class"] == "gthread" else ""
    return f"{conf['worker_class']}, {conf['workers']} workers{threads} (gunicorn.conf.py)"


def _ratio(part: Result | None, whole: Result | None) -> float | None:
    if part is None or whole is None or not whole.rate:
        return None
    return part.rate / whole.rate


def targets(results: list[Result], trivial: Result) -> list[tuple[str, str, bool]]:
    """The targets of the performance issue, judged on PostgreSQL."""

    def find(name: str, database: str = "postgresql") -> Result | None:
        return next((r for r in results if r.workload.startswith(name) and r.database == database), None)

    checks = []
    cc, slow = find("client credentials (opaque)"), find("client credentials, DOT default hasher")
    if cc and slow:
        share, speedup = _ratio(cc, trivial), cc.rate / slow.rate
        checks.append(("client credentials >= 25% of the trivial view", f"{share:.0%}", share >= 0.25))
        checks.append(("client credentials >= 100x the default hasher", f"{speedup:,.0f}x", speedup >= 100))
    for name, label, goal in (("authorization code exchange", "code exchange", 0.15),
                              ("introspection", "introspection", 0.25), ("userinfo", "userinfo", 0.25)):
        result = find(name)
        if result:
            share = _ratio(result, trivial)
            checks.append((f"{label} >= {goal:.0%} of the trivial view", f"{share:.0%}", share >= goal))
    signin = find("federated sign-in")
    if signin:
        checks.append(("sign-ins >= 50/s with p99 < 400 ms",
                       f"{signin.rate:.0f}/s, p99 {signin.p99_ms:.0f} ms", signin.rate >= 50 and signin.p99_ms < 400))
        checks.append(("SQL statements per sign-in <= 25", f"{signin.statements:.1f}", signin.statements <= 25))
    jwt_result = next((r for r in results if r.workload.startswith("local JWT")), None)
    if jwt_result:
        checks.append(("local JWT validation >= 10,000/s on one core", f"{jwt_result.rate:,.0f}/s",
                       jwt_result.rate >= 10000))
    return checks


def write_results(path: Path, results: list[Result], trivial: Result, args: argparse.Namespace) -> None:
    lines = ["# Benchmark results", "",
             f"Written by `make bench` (bench/run.py) on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: "
             f"{args.warmup:g} s of warm-up, then {args.seconds:g} s measured per workload. "
             "Regenerate with `make bench`; docs/performance.md explains the figures.", "",
             "## Machine", ""]
    lines += [f"- {key}: {value}" for key, value in machine().items()]
    lines += ["", "## Results", "",
              "| workload | database | rate | p50 ms | p99 ms | SQL statements / request | rows written / request "
              "| % of trivial view | errors | CPU (cores): wrk / gunicorn / PostgreSQL / other | note |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    for r in [trivial, *results]:
        share = _ratio(r, trivial) if r.unit == "req/s" and r is not trivial else None
        cpu = " / ".join(_num(v, 2) for v in (r.generator_cpu, r.server_cpu, r.database_cpu, r.other_cpu))
        lines.append(f"| {r.workload} | {r.database} | {_num(r.rate)} {r.unit} | {_num(r.p50_ms, 1)} | "
                     f"{_num(r.p99_ms, 1)} | {_num(r.statements)} | {_num(r.rows)} | "
                     f"{'-' if share is None else f'{share:.0%}'} | {r.errors} | {cpu} | {r.note} |")
    lines += ["",
              "- Sign-ins: rate, p50 and p99 are of whole sign-ins (six HTTP requests each, bench/lua/signin.lua); "
              "SQL and rows are per sign-in.",
              "- SQL statements are what Django sends (BEGIN and COMMIT excluded), counted in every gunicorn worker "
              "(bench/sqlcount.py).",
              "- CPU is in cores out of the machine's 2: the load generator, the server and PostgreSQL share them. "
              "\"other\" is everything else running on the machine meanwhile; when it is not near 0 the figures "
              "are low by about that share.",
              "", "## Targets (PostgreSQL)", "", "| target | measured | met |", "|---|---|---|"]
    lines += [f"| {name} | {value} | {'yes' if ok else 'no'} |" for name, value, ok in targets(results, trivial)]
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--databases", default="postgresql,sqlite")
    parser.add_argument("--cleartokens", type=int, default=1_000_000, help="expired tokens to delete (0: skip)")
    parser.add_argument("--output", default=str(BENCH / "RESULTS.md"))
    args = parser.parse_args()
    args.databases = [d.strip() for d in args.databases.split(",") if d.strip()]
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (Debian: apt-get install -y wrk; `make bench` does it)")

    upstream_port = free_port()
    upstream = subprocess.Popen([PYTHON, str(BENCH / "stub_upstream.py"), "--port", str(upstream_port),
                                 "--delay", "0.1"], cwd=ROOT)
    work = Path(tempfile.mkdtemp(prefix="gatehouse-bench-"))
    results: list[Result] = []
    try:
        wait_for(f"http://127.0.0.1:{upstream_port}/stats")
        print(HEADER, flush=True)
        trivial = trivial_baseline(args, work, "startproject", TRIVIAL)
        results.append(trivial_baseline(args, work, "bare", "bare Django view, no middleware (ceiling)"))
        for database in args.databases:
            results += bench_database(database, args, upstream_port, work)
    finally:
        upstream.terminate()
        upstream.wait()
    print()
    for name, value, ok in targets(results, trivial):
        print(f"{'met   ' if ok else 'MISSED'} {name}: {value}")
    write_results(Path(args.output), results, trivial, args)
    shutil.rmtree(work, ignore_errors=True)
    print(f"\nwritten to {os.path.relpath(args.output, ROOT)}")


if __name__ == "__main__":
    main()
