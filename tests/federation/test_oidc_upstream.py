"""Signing in through a generic OpenID Connect upstream (https://sso.example.com, discovered, RS256)."""

from __future__ import annotations

import pytest
from jwcrypto import jwk
from social_django.models import UserSocialAuth

from idp.models import User
from tests.conftest import authorize_url, verify_id_token
from tests.federation.upstream import (
    OIDC_AUTHORIZE_URL,
    OIDC_TOKEN_URL,
    OIDC_USERINFO_URL,
    begin,
    callback,
    calls_to,
    consent_and_exchange,
    form_of,
    mock_oidc_discovery,
    mock_oidc_tokens,
    s256,
    upstream,  # noqa: F401 (fixture)
    userinfo,
)

SSO_SUB = "248289761001"


def _begin(client, app, upstream):
    mock_oidc_discovery(upstream)
    auth = authorize_url(app)
    return auth, begin(client, "oidc", auth)


@pytest.mark.spec("OIDC Core", "3.1.2.1", "Gatehouse as relying party sends a nonce")
def test_it_sends_the_browser_to_the_discovered_authorization_endpoint_with_a_nonce(
    client, confidential_client, upstream
):
    _, redirect = _begin(client, confidential_client, upstream)
    assert redirect.endpoint == OIDC_AUTHORIZE_URL
    assert redirect.params["client_id"] == "oidc-client-id"
    assert redirect.params["redirect_uri"] == "http://testserver/complete/oidc/"
    assert redirect.params["response_type"] == "code"
    assert set(redirect.params["scope"].split()) == {"openid", "profile", "email"}
    assert redirect.params["state"] and redirect.params["nonce"]
    assert redirect.params["nonce"] != redirect.params["state"]
    # PKCE upstream too (SOCIAL_AUTH_OIDC_USE_PKCE), S256 only.
    assert redirect.params["code_challenge_method"] == "S256" and redirect.params["code_challenge"]


def test_it_signs_in_through_the_oidc_upstream(client, confidential_client, upstream):
    auth, redirect = _begin(client, confidential_client, upstream)
    mock_oidc_tokens(upstream, sub=SSO_SUB, nonce=redirect.params["nonce"], email="Erin@Example.com", name="Erin Yoon")

    done = callback(client, "oidc", code="sso-code", state=redirect.params["state"])
    assert done.status_code == 302 and done["Location"] == auth.url, done

    (exchange,) = calls_to(upstream, OIDC_TOKEN_URL)
    # The discovery document offers client_secret_basic, so the secret goes in the header.
    assert exchange.request.headers["Authorization"].startswith("Basic ")
    sent = form_of(exchange)
    assert sent["grant_type"] == "authorization_code" and sent["code"] == "sso-code"
    assert s256(sent["code_verifier"]) == redirect.params["code_challenge"]
    assert sent["redirect_uri"] == "http://testserver/complete/oidc/"
    (info_call,) = calls_to(upstream, OIDC_USERINFO_URL)
    assert info_call.request.headers["Authorization"] == "Bearer sso-access-token"

    identity = UserSocialAuth.objects.get()
    assert (identity.provider, identity.uid) == ("oidc", SSO_SUB)
    user = identity.user
    assert user.email == "erin@example.com" and user.email_verified is True
    assert user.name == "Erin Yoon"

    tokens = consent_and_exchange(client, confidential_client, auth)
    claims = verify_id_token(client, tokens.id_token, audience=confidential_client.client_id, nonce=auth.nonce)
    assert claims["sub"] == user.sub and claims["sub"] != SSO_SUB
    assert claims["email"] == "erin@example.com" and claims["email_verified"] is True
    info = userinfo(client, tokens.access_token)
    assert info.status_code == 200
    assert info.json()["sub"] == user.sub


def test_it_takes_email_verified_from_the_upstream_claim(client, confidential_client, upstream):
    auth, redirect = _begin(client, confidential_client, upstream)
    mock_oidc_tokens(upstream, sub=SSO_SUB, nonce=redirect.params["nonce"], email="erin@example.com",
                     email_verified=False)

    callback(client, "oidc", code="sso-code", state=redirect.params["state"])

    assert User.objects.get().email_verified is False
    tokens = consent_and_exchange(client, confidential_client, auth)
    claims = verify_id_token(client, tokens.id_token, audience=confidential_client.client_id, nonce=auth.nonce)
    assert claims["email_verified"] is False


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param({"nonce": "a-nonce-from-another-sign-in"}, id="wrong-nonce"),
        pytest.param({"audience": "some-other-client"}, id="wrong-audience"),
        pytest.param({"issuer": "https://evil.example.com"}, id="wrong-issuer"),
        pytest.param({"key": jwk.JWK.generate(kty="RSA", size=2048, kid="sso-key-1")}, id="forged-signature"),
    ],
)
@pytest.mark.spec("OIDC Core", "3.1.3.7", "Upstream ID token: signature, iss, aud, nonce checked")
def test_it_refuses_an_upstream_id_token_that_does_not_validate(client, confidential_client, upstream, tamper):
    _, redirect = _begin(client, confidential_client, upstream)
    nonce = tamper.pop("nonce", redirect.params["nonce"])
    mock_oidc_tokens(upstream, sub=SSO_SUB, nonce=nonce, email="erin@example.com", **tamper)

    done = callback(client, "oidc", code="sso-code", state=redirect.params["state"])

    # A wrong nonce means "not this sign-in" (start again); a bad signature, issuer or audience means the
    # upstream's answer cannot be trusted (502). Either way a readable page, and nothing created.
    assert done.status_code in (400, 502), done
    assert "Nothing was changed" in done.content.decode()
    assert not User.objects.exists() and not UserSocialAuth.objects.exists()
    assert calls_to(upstream, OIDC_USERINFO_URL) == []


@pytest.mark.spec("OIDC Core", "3.1.3.7", "Upstream ID token exp checked")
def test_it_refuses_an_expired_upstream_id_token(client, confidential_client, upstream):
    _, redirect = _begin(client, confidential_client, upstream)
    # Issued recently enough (social-core accepts `iat` up to 10 minutes old) but expired a minute ago.
    mock_oidc_tokens(upstream, sub=SSO_SUB, nonce=redirect.params["nonce"], email="erin@example.com",
                     issued_ago=360, lifetime=300)

    done = callback(client, "oidc", code="sso-code", state=redirect.params["state"])

    assert done.status_code == 400 and "Start again" in done.content.decode()
    assert not User.objects.exists() and not UserSocialAuth.objects.exists()
