"""One node, several gunicorn workers: /metrics adds up what every worker counted (SQLite is enough)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.multinode.support import Node, node_env

REQUESTS = 40


@pytest.fixture
def node(tmp_path):
    node = Node(
        "workers",
        node_env(
            DEBUG="0",
            SECRET_KEY="workers-test-secret-key-" + "w" * 30,
            DATABASE_URL=f"sqlite:///{tmp_path / 'gatehouse.sqlite3'}",
            GATEHOUSE_URL="http://127.0.0.1:8000",
            ALLOWED_HOSTS="127.0.0.1",
            PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
        ),
    )
    node.start(tmp_path, workers=3)
    yield node
    node.stop()


def test_it_adds_up_the_metrics_of_every_worker(node, tmp_path):
    before = node.metrics()
    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(lambda _: requests.get(f"{node.url}/healthz", timeout=10).status_code, range(REQUESTS)))
    assert statuses == [200] * REQUESTS
    after = node.metrics()

    key = ("gatehouse_request_duration_seconds_count", frozenset({("view", "healthz")}))
    assert after.get(key, 0) - before.get(key, 0) == REQUESTS, node.log()
    # Each worker keeps its own file: more than one file means more than one worker served, and the sum
    # above is still exact.
    workers_that_counted = {path.stem.rsplit("_", 1)[1] for path in (tmp_path / "metrics").glob("histogram_*.db")}
    assert len(workers_that_counted) >= 2, node.log()
