"""Count the SQL statements and the rows they write, per gunicorn worker, for the benchmark's table.

Installed by bench/gunicorn_bench.py in each worker after the fork (Gatehouse's code and settings stay
exactly as in production). Each worker keeps two 64-bit counters (statements, rows written) in a small
memory-mapped file of its own under BENCH_STATS_DIR; `bench/run.py` sums the files before and after a
workload. BEGIN and COMMIT are not counted (PostgreSQL's driver sends them itself, not Django's cursor).
"""

from __future__ import annotations

import mmap
import os
import struct
import threading
from pathlib import Path
from typing import Any

_FORMAT = "qq"
_SIZE = struct.calcsize(_FORMAT)
_WRITES = ("INSERT", "UPDATE", "DELETE")
_lock = threading.Lock()
_counters: mmap.mmap | None = None


def install(directory: str) -> None:
    """Open this worker's counters and count every statement of every database connection it makes."""
    global _counters
    path = Path(directory) / f"{os.getpid()}.bin"
    path.write_bytes(b"\0" * _SIZE)
    with path.open("r+b") as handle:
        _counters = mmap.mmap(handle.fileno(), _SIZE)
    from django.db.backends.signals import connection_created

    connection_created.connect(_attach, weak=False)


def _attach(sender: Any, connection: Any, **kwargs: Any) -> None:
    if _count not in connection.execute_wrappers:
        connection.execute_wrappers.append(_count)


def _count(execute, sql: str, params, many: bool, context: dict) -> Any:
    result = execute(sql, params, many, context)
    verb = sql.lstrip()[:6].upper()
    if verb.startswith("BEGIN"):
        # SQLite's BEGIN IMMEDIATE goes through Django's cursor; PostgreSQL's BEGIN does not. Counting
        # neither keeps the two databases' figures comparable.
        return result
    written = 0
    if verb in _WRITES:
        written = context["cursor"].rowcount
        if verb == "INSERT" and (written is None or written <= 0):
            # sqlite3 reports no count for INSERT ... RETURNING until the rows are fetched: one row each.
            written = len(params) if many else 1
        written = max(written or 0, 0)
    with _lock:
        statements, rows = struct.unpack_from(_FORMAT, _counters)
        struct.pack_into(_FORMAT, _counters, 0, statements + 1, rows + written)
    return result


def read_totals(directory: str) -> tuple[int, int]:
    """The sum of every worker's counters (statements, rows written)."""
    statements = rows = 0
    for path in Path(directory).glob("*.bin"):
        data = path.read_bytes()
        if len(data) == _SIZE:
            s, r = struct.unpack(_FORMAT, data)
            statements, rows = statements + s, rows + r
    return statements, rows
