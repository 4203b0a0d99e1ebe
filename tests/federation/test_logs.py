"""What production would log during whole sign-ins holds no upstream token, client secret or authorization code.

oauthlib, django-oauth-toolkit and urllib3 write codes and token-bearing URLs at DEBUG; the settings keep
those loggers at INFO (idp/settings.py, LOGGING). This test turns everything else up to DEBUG, the way an
operator chasing a problem would (GATEHOUSE_LOG_LEVEL=DEBUG), and reads every record in the configured format.
"""

from __future__ import annotations

import logging

import pytest
from django.conf import settings
from django.test import Client

from tests.conftest import approve_consent, authorize_url, exchange_code, query_of
from tests.federation.upstream import (
    begin,
    callback,
    exchange,
    mock_facebook,
    mock_facebook_token,
    mock_google,
    mock_google_token,
    mock_kakao,
    mock_kakao_token,
    mock_oidc_discovery,
    mock_oidc_tokens,
    refresh,
    sign_in,
    upstream,  # noqa: F401 (fixture)
    userinfo,
)

UPSTREAM_SECRETS = ["google-client-secret", "kakao-client-secret", "facebook-app-secret", "oidc-client-secret"]


def _browser_sign_in(app, upstream, backend: str, n: int) -> list[str]:
    """A whole browser journey through `backend`; returns the credentials it involved."""
    code, access_token = f"UPSTREAM-CODE-{backend}-{n}", f"UPSTREAM-ACCESS-{backend}-{n}"
    upstream.reset()
    browser = Client()
    auth = authorize_url(app)
    if backend == "oidc":
        mock_oidc_discovery(upstream)
        redirect = begin(browser, backend, auth)
        mock_oidc_tokens(upstream, sub=f"sso-{n}", nonce=redirect.params["nonce"], email=f"p{n}@example.com",
                         access_token=access_token)
        assert callback(browser, backend, code=code, state=redirect.params["state"]).status_code == 302
    else:
        if backend == "kakao":
            mock_kakao(upstream, kakao_id=8880000 + n, email=f"p{n}@example.com", access_token=access_token)
        elif backend == "google-oauth2":
            mock_google(upstream, sub=f"11000000000000000{n:04d}", email=f"p{n}@example.com", access_token=access_token)
        else:
            mock_facebook(upstream, facebook_id=f"1015000000{n:04d}", email=f"p{n}@example.com",
                          access_token=access_token)
        sign_in(browser, backend, auth, code=code)
    gatehouse_code = query_of(approve_consent(browser, auth.url))["code"]
    tokens = exchange_code(browser, app, gatehouse_code, auth.verifier).json()
    assert userinfo(browser, tokens["access_token"]).status_code == 200
    renewed = refresh(browser, app, tokens["refresh_token"]).json()
    return [code, access_token, gatehouse_code, tokens["access_token"], tokens["refresh_token"],
            tokens["id_token"], renewed["access_token"], renewed["refresh_token"]]


@pytest.mark.django_db
def test_it_logs_no_token_secret_or_code_during_whole_flows(caplog, confidential_client, native_app, upstream):
    for name in ("oauthlib", "oauth2_provider", "urllib3", "django.db.backends"):
        assert logging.getLogger(name).level == logging.INFO, name  # as configured, whatever the root says
    caplog.set_level(logging.DEBUG)  # the root: every other logger at DEBUG
    secrets = [*UPSTREAM_SECRETS, confidential_client.client_secret]

    for n, backend in enumerate(["kakao", "google-oauth2", "facebook", "oidc"]):
        secrets += _browser_sign_in(confidential_client, upstream, backend, n)
    # Failures log too: a forged state, an upstream answering 500.
    browser = Client()
    begin(browser, "kakao", authorize_url(confidential_client))
    assert callback(browser, "kakao", code="UPSTREAM-CODE-forged", state="forged").status_code == 400
    secrets.append("UPSTREAM-CODE-forged")
    # Native apps' token exchange: accepted and refused tokens.
    client = Client()
    for mock, token, issuer in ((mock_kakao_token, "SDK-TOKEN-kakao", "kakao"),
                                (mock_google_token, "SDK-TOKEN-google", "google-oauth2"),
                                (mock_facebook_token, "SDK-TOKEN-facebook", "facebook")):
        upstream.reset()
        mock(upstream)
        body = exchange(client, native_app, token, issuer).json()
        secrets += [token, body["access_token"], body["refresh_token"]]
    upstream.reset()
    mock_kakao_token(upstream, app_id="999")
    assert exchange(client, native_app, "SDK-TOKEN-other-app", "kakao").status_code == 400
    secrets.append("SDK-TOKEN-other-app")

    formatter = logging.Formatter(settings.LOGGING["formatters"]["plain"]["format"])
    written = "\n".join(formatter.format(record) for record in caplog.records)
    assert "upstream sign-in failed" in written  # the capture works: our own warning is there
    leaked = sorted({secret for secret in secrets if secret and secret in written})
    assert leaked == [], written
