"""Signing in moves the session to a new key in one UPDATE; the old key stops working (session fixation)."""

from __future__ import annotations

import pytest
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from idp.sessions import cached_db, db
from tests.conftest import statements_sent


@pytest.mark.django_db
@pytest.mark.parametrize("engine", [db, cached_db], ids=["db", "cached_db"])
def test_cycling_the_key_renames_the_row_and_the_old_key_is_gone(engine):
    before = engine.SessionStore()
    before["next"] = "/o/authorize/?client_id=x"
    before.save(must_create=True)
    old_key = before.session_key

    store = engine.SessionStore(old_key)
    assert store["next"]  # loaded, as the session middleware would
    store.cycle_key()  # django.contrib.auth.login
    store["_auth_user_id"] = "1"
    with CaptureQueriesContext(connection) as saved:
        store.save()

    assert [sql.split()[0] for sql in statements_sent(saved)] == ["UPDATE"]
    assert store.session_key != old_key
    assert not Session.objects.filter(session_key=old_key).exists()
    assert not engine.SessionStore().exists(old_key)
    assert engine.SessionStore(old_key).load() == {}  # an attacker holding the old cookie gets nothing
    fresh = engine.SessionStore(store.session_key)
    assert fresh["_auth_user_id"] == "1" and fresh["next"] == "/o/authorize/?client_id=x"


@pytest.mark.django_db
def test_the_cache_forgets_the_old_key():
    before = cached_db.SessionStore()
    before["a"] = 1
    before.save(must_create=True)
    old_key = before.session_key
    assert cache.get(before.cache_key) is not None

    store = cached_db.SessionStore(old_key)
    store.load()
    store.cycle_key()
    store.save()

    assert cache.get(cached_db.SessionStore.cache_key_prefix + old_key) is None


@pytest.mark.django_db
def test_a_session_never_saved_is_inserted_when_its_key_is_cycled():
    store = db.SessionStore()
    store["a"] = 1
    store.cycle_key()  # a sign-in on a first request: no row to rename
    store.save()
    assert Session.objects.filter(session_key=store.session_key).exists()
