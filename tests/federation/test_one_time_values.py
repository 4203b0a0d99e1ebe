"""The OIDC sign-in's one-time values (state, nonce): one statement to store or spend each, still spent once.

federation/storage.py and federation.backends.SpendNonceOnce replace social-core's read-then-write with
single statements; these tests hold them to the stock semantics and pin the whole OIDC sign-in's SQL.
"""

from __future__ import annotations

import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from social_django.models import Association, Nonce

from federation.storage import OneStatementNonce
from idp import keys
from idp.models import User
from tests.conftest import authorize_url, exchange_code, query_of, statements_sent
from tests.federation.upstream import (
    begin,
    callback,
    mock_oidc_discovery,
    mock_oidc_tokens,
    upstream,  # noqa: F401 (fixture)
)

SUB = "248289761001"


@pytest.mark.django_db
def test_a_nonce_is_used_once_with_one_insert():
    with CaptureQueriesContext(connection) as first:
        assert OneStatementNonce.use("social_core.oauth2.oidc", 1795449968, "a-state") is True
    assert [sql.split()[0] for sql in statements_sent(first)] == ["INSERT"]
    assert OneStatementNonce.use("social_core.oauth2.oidc", 1795449968, "a-state") is False
    assert OneStatementNonce.use("social_core.oauth2.oidc", 1795449968, "another-state") is True
    assert Nonce.objects.count() == 2


def _begin(client, app, upstream):
    mock_oidc_discovery(upstream)
    auth = authorize_url(app)
    return auth, begin(client, "oidc", auth)


def test_an_oidc_sign_in_spends_its_nonce(client, confidential_client, upstream):
    auth, redirect = _begin(client, confidential_client, upstream)
    assert Association.objects.filter(handle=redirect.params["nonce"]).count() == 1
    mock_oidc_tokens(upstream, sub=SUB, nonce=redirect.params["nonce"], email="erin@example.com")

    done = callback(client, "oidc", code="sso-code", state=redirect.params["state"])

    assert done.status_code == 302 and done["Location"] == auth.url
    assert not Association.objects.exists()


def test_an_expired_nonce_is_refused(client, confidential_client, upstream):
    _, redirect = _begin(client, confidential_client, upstream)
    # social-core's Association.is_expired(): issued + lifetime in the past.
    Association.objects.filter(handle=redirect.params["nonce"]).update(issued=int(time.time()) - 3600, lifetime=60)
    mock_oidc_tokens(upstream, sub=SUB, nonce=redirect.params["nonce"], email="erin@example.com")

    done = callback(client, "oidc", code="sso-code", state=redirect.params["state"])

    assert done.status_code == 400 and "Start again" in done.content.decode()
    assert not User.objects.exists()


def test_a_nonce_stored_for_another_sign_in_attempt_is_refused(client, confidential_client, upstream):
    _, redirect = _begin(client, confidential_client, upstream)
    # The nonce row exists, but it was issued for another `state` than the one this browser returns with.
    Association.objects.filter(handle=redirect.params["nonce"]).update(assoc_type="another-state")
    mock_oidc_tokens(upstream, sub=SUB, nonce=redirect.params["nonce"], email="erin@example.com")

    done = callback(client, "oidc", code="sso-code", state=redirect.params["state"])

    assert done.status_code == 400
    assert not User.objects.exists()
    assert Association.objects.count() == 1  # a refused nonce is not spent


def test_a_returning_persons_oidc_sign_in_takes_at_most_25_statements(client, trusted_client, upstream):
    """The performance issue's budget for one whole sign-in, through an OpenID Connect upstream."""
    auth, redirect = _begin(client, trusted_client, upstream)  # first sign-in: creates the person
    mock_oidc_tokens(upstream, sub=SUB, nonce=redirect.params["nonce"], email="erin@example.com")
    callback(client, "oidc", code="sso-code", state=redirect.params["state"])
    client.cookies.clear()
    upstream.reset()

    mock_oidc_discovery(upstream)
    keys.keyset()  # signing keys are read once per process, not per sign-in
    auth = authorize_url(trusted_client)
    with CaptureQueriesContext(connection) as whole:
        redirect = begin(client, "oidc", auth)
        mock_oidc_tokens(upstream, sub=SUB, nonce=redirect.params["nonce"], email="erin@example.com")
        done = callback(client, "oidc", code="sso-code", state=redirect.params["state"])
        assert done["Location"] == auth.url
        code = query_of(client.get(auth.url)["Location"])["code"]  # trusted: no consent page
        assert exchange_code(client, trusted_client, code, auth.verifier).status_code == 200
    # login page 1, POST /login/oidc/ 3, callback 9, /o/authorize/ 5, /o/token/ 9 (docs/performance.md)
    assert len(statements_sent(whole)) == 25
