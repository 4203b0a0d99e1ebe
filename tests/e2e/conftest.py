"""Browser tests: a real Chromium (Debian's, never a downloaded one) against pytest-django's live server."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture
def new_page(monkeypatch) -> Iterator[Callable[[str], object]]:
    """A factory of fresh Chromium pages, each in its own browser context with the given locale."""
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        contexts = []

        def make(locale: str = "en-US"):
            context = browser.new_context(locale=locale, viewport={"width": 900, "height": 900})
            contexts.append(context)
            page = context.new_page()
            page.set_default_timeout(15_000)
            return page

        try:
            yield make
            for context in contexts:
                context.close()
        finally:
            browser.close()


@pytest.fixture
def browser_page(monkeypatch) -> Iterator[object]:
    """A fresh Chromium page in English. Never downloads a browser: skips if Debian's is missing."""
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop on this thread; the test body's own database access is
    # still synchronous, so Django's async-safety check would refuse it.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(locale="en-US", viewport={"width": 900, "height": 900})
            page = context.new_page()
            page.set_default_timeout(15_000)
            yield page
            context.close()
        finally:
            browser.close()


@pytest.fixture(scope="session", autouse=True)
def _release_live_server_connections(django_db_setup, django_db_blocker) -> Iterator[None]:
    """On PostgreSQL a live-server thread can keep a connection that blocks dropping the test database."""
    yield
    from django.db import connection

    with django_db_blocker.unblock():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
