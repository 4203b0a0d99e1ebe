"""Races: one code, one refresh token, one upstream identity, used by many requests at the same moment.

Real parallel requests (threads released together by a barrier) against pytest-django's live server,
each served on its own thread with its own database connection. Only PostgreSQL has the row locks these
answers depend on; SQLite serialises every write, so the races cannot happen there the same way.
"""

from __future__ import annotations

import base64
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urljoin

import pytest
import requests
from django.db import connection, transaction
from oauth2_provider.models import get_access_token_model, get_refresh_token_model
from social_django.models import UserSocialAuth

from idp.models import AuditEvent, RedeemedCode, User
from tests.conftest import approve_consent, authorize_url, dev_sign_in, exchange_code, query_of
from tests.protocol.test_authlib_client import form_fields

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="race tests need PostgreSQL's row locks; run with DATABASE_URL=postgres://... (CI does)",
    ),
]

AccessToken, RefreshToken = get_access_token_model(), get_refresh_token_model()


def _all_at_once(count: int, send, hold=None) -> list[requests.Response]:
    """Call `send(session)` from `count` threads, released together; each thread has its own session.

    With `hold` (a queryset), the test itself locks those rows first and lets go only once all `count`
    requests are queued behind the lock in PostgreSQL: every request has then arrived, and read the row,
    before any of them can change it. That is the tightest race there is, made certain, not likely.
    """
    barrier = threading.Barrier(count)
    sessions = [requests.Session() for _ in range(count)]

    def run(session: requests.Session) -> requests.Response:
        barrier.wait(timeout=30)
        return send(session)

    try:
        with ThreadPoolExecutor(max_workers=count) as pool:
            if hold is None:
                return list(pool.map(run, sessions))
            with transaction.atomic():
                assert list(hold.select_for_update())
                futures = [pool.submit(run, session) for session in sessions]
                _wait_for_lock_waiters(count, futures)
            return [future.result() for future in futures]
    finally:
        for session in sessions:
            session.close()


def _wait_for_lock_waiters(count: int, futures) -> None:
    """Return once `count` other connections to this database wait for a row lock (polling, no sleep)."""
    deadline = time.monotonic() + 30
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            # Statistics views are a snapshot per transaction, and this runs inside the one holding the lock.
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0] >= count:
                return
            if any(future.done() for future in futures):
                break  # a request was answered without waiting for the lock: the assertions will say how
        cursor.execute("SELECT state, wait_event_type, wait_event, left(query, 120) FROM pg_stat_activity "
                       "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        activity = cursor.fetchall()
    answered = [f.result().text[:200] for f in futures if f.done()]
    raise AssertionError(f"{count} requests never queued behind the lock: {answered} {activity}")


def _basic(app) -> str:
    return "Basic " + base64.b64encode(f"{app.client_id}:{app.client_secret}".encode()).decode()


def _code(client, app) -> tuple[str, str]:
    """Sign carol in and let her approve: a fresh authorization code and its PKCE verifier."""
    dev_sign_in(client, "carol@example.com", "Carol")
    auth = authorize_url(app)
    return query_of(approve_consent(client, auth.url))["code"], auth.verifier


def _errors(responses: list[requests.Response]) -> Counter:
    return Counter(
        "ok" if r.status_code == 200 else f"{r.status_code} {r.json().get('error') if r.status_code == 400 else ''}"
        for r in responses
    )


def _refresh_all_at_once(gatehouse_url, app, refresh_token: str, count: int, hold=None) -> list[requests.Response]:
    return _all_at_once(count, lambda s: s.post(
        urljoin(gatehouse_url, "/o/token/"),
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        headers={"Authorization": _basic(app)},
        timeout=60,
    ), hold=hold)  # fmt: skip


def test_twenty_refreshes_of_one_token_queued_together_rotate_it_once(gatehouse_url, client, confidential_client):
    code, verifier = _code(client, confidential_client)
    tokens = exchange_code(client, confidential_client, code, verifier).json()
    hold = RefreshToken.objects.filter(user__email="carol@example.com", revoked__isnull=True)

    responses = _refresh_all_at_once(gatehouse_url, confidential_client, tokens["refresh_token"], 20, hold=hold)

    assert _errors(responses) == {"ok": 1, "400 invalid_grant": 19}, [r.text[:200] for r in responses]
    winner = next(r.json() for r in responses if r.status_code == 200)
    live = RefreshToken.objects.filter(user__email="carol@example.com", revoked__isnull=True)
    # The losers were refused, not taken for a replay of a rotated token: the winner's family lives on.
    assert live.count() == 1
    again = client.post(
        "/o/token/",
        {"grant_type": "refresh_token", "refresh_token": winner["refresh_token"]},
        HTTP_AUTHORIZATION=_basic(confidential_client),
    )
    assert again.status_code == 200, again.content


def test_twenty_refreshes_of_one_token_sent_together_rotate_it_once(gatehouse_url, client, confidential_client):
    """Unorchestrated: some requests may arrive only after the winner's rotation was committed."""
    code, verifier = _code(client, confidential_client)
    tokens = exchange_code(client, confidential_client, code, verifier).json()

    responses = _refresh_all_at_once(gatehouse_url, confidential_client, tokens["refresh_token"], 20)

    assert _errors(responses) == {"ok": 1, "400 invalid_grant": 19}, [r.text[:200] for r in responses]
    # A request that arrived after the rotation is a replay of a rotated token, and revokes the family
    # (RFC 9700 §4.14.2); one that arrived while it was under way only loses. Never two live tokens.
    assert RefreshToken.objects.filter(user__email="carol@example.com", revoked__isnull=True).count() <= 1


def test_ten_concurrent_exchanges_of_one_code_issue_tokens_once(gatehouse_url, client, confidential_client):
    code, verifier = _code(client, confidential_client)
    token_url = urljoin(gatehouse_url, "/o/token/")
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": confidential_client.redirect_uri,
        "code_verifier": verifier,
        "client_id": confidential_client.client_id,
        "client_secret": confidential_client.client_secret,
    }

    responses = _all_at_once(10, lambda s: s.post(token_url, data=data, timeout=60))

    assert _errors(responses) == {"ok": 1, "400 invalid_grant": 9}, [r.text[:200] for r in responses]
    # One redemption, one token pair: no loser minted tokens before finding the code gone.
    assert RedeemedCode.objects.count() == 1
    assert RefreshToken.objects.filter(user__email="carol@example.com").count() == 1
    # Each loser is a second redemption, and RFC 6749 §4.1.2 revokes what the first one issued: a client
    # that double-submits its code gets tokens that no longer work, as an attacker racing it would.
    assert not RefreshToken.objects.filter(user__email="carol@example.com", revoked__isnull=True).exists()
    assert AuditEvent.objects.filter(event="token.code_reused").count() == 9


def test_ten_concurrent_first_sign_ins_of_one_identity_make_one_user(gatehouse_url):
    """Ten browsers sign in as one new upstream identity: one user, one link, ten signed-in people."""
    sessions = [requests.Session() for _ in range(10)]
    states = {}
    try:
        # Each browser opens the login page and goes to the upstream on its own; only the callbacks race.
        for session in sessions:
            login = session.get(urljoin(gatehouse_url, "/login/"), timeout=30)
            assert login.status_code == 200
            upstream = session.post(urljoin(gatehouse_url, "/login/dev/"), data=form_fields(login.text), timeout=30)
            assert upstream.status_code == 200 and "/federation/dev/" in upstream.url, upstream.url
            states[id(session)] = query_of(upstream.url)["state"]
        barrier = threading.Barrier(len(sessions))

        def callback(session: requests.Session) -> requests.Response:
            barrier.wait(timeout=30)
            return session.post(
                urljoin(gatehouse_url, "/complete/dev/"),
                data={"state": states[id(session)], "email": "dana@example.com", "name": "Dana", "email_verified": "1"},
                timeout=60,
            )

        with ThreadPoolExecutor(max_workers=len(sessions)) as pool:
            responses = list(pool.map(callback, sessions))
    finally:
        for session in sessions:
            session.close()

    # No 500, no "please start again": the later callbacks waited for the first and signed in as its user.
    assert [r.status_code for r in responses] == [200] * 10, [(r.status_code, r.url, r.text[:300]) for r in responses]
    assert all("/login/" not in r.url and "<html" in r.text.lower() for r in responses), [r.url for r in responses]
    user = User.objects.get(email__iexact="dana@example.com")
    assert list(UserSocialAuth.objects.filter(provider="dev").values_list("user", flat=True)) == [user.pk]
