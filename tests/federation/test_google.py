"""Signing in with Google (`google-oauth2`) as an OpenID Connect upstream: PKCE, a nonce, a validated ID
token, and identities keyed on Google's `sub`, never the email."""

from __future__ import annotations

import pytest
from django.test import Client
from jwcrypto import jwk
from social_django.models import UserSocialAuth

from idp.models import AuditEvent, User
from tests.conftest import authorize_url, verify_id_token
from tests.federation.upstream import (
    GOOGLE_JWKS_URL,
    GOOGLE_TOKEN_URL,
    GOOGLE_USERINFO_URL,
    begin,
    callback,
    calls_to,
    consent_and_exchange,
    form_of,
    mock_google,
    s256,
    sign_in,
    upstream,  # noqa: F401 (fixture)
    userinfo,
)

GOOGLE_SUB = "110169484474386276334"


def test_it_sends_the_browser_to_google_with_openid_scopes_a_nonce_and_pkce(client, confidential_client, upstream):
    redirect = begin(client, "google-oauth2", authorize_url(confidential_client))
    assert redirect.endpoint == "https://accounts.google.com/o/oauth2/auth"
    assert redirect.params["client_id"] == "google-client-id"
    assert redirect.params["redirect_uri"] == "http://testserver/complete/google-oauth2/"
    assert redirect.params["response_type"] == "code"
    assert set(redirect.params["scope"].split()) == {"openid", "email", "profile"}
    assert redirect.params["state"]
    assert len(redirect.params["nonce"]) >= 32 and redirect.params["nonce"] != redirect.params["state"]
    assert redirect.params["code_challenge_method"] == "S256"
    assert redirect.params["code_challenge"]
    assert len(upstream.calls) == 0  # endpoints are pinned: nothing is fetched before the person comes back


def test_it_signs_in_with_google_and_keys_the_identity_on_sub(client, confidential_client, upstream):
    auth = authorize_url(confidential_client)
    mock_google(upstream, sub=GOOGLE_SUB, email="Carol@Example.com", name="Carol Park")
    redirect = sign_in(client, "google-oauth2", auth, code="4/0AfJohXk-google-code")

    (exchange,) = calls_to(upstream, GOOGLE_TOKEN_URL)
    sent = form_of(exchange)
    assert sent["grant_type"] == "authorization_code"
    assert sent["code"] == "4/0AfJohXk-google-code"
    assert sent["redirect_uri"] == "http://testserver/complete/google-oauth2/"
    # RFC 7636 §4.5: the verifier of the challenge that went out with the browser.
    assert s256(sent["code_verifier"]) == redirect.params["code_challenge"]
    # The ID token's signature was checked against Google's published keys.
    assert len(calls_to(upstream, GOOGLE_JWKS_URL)) == 1
    (profile_call,) = calls_to(upstream, GOOGLE_USERINFO_URL)
    assert profile_call.request.headers["Authorization"] == "Bearer ya29.google-access-token"
    assert "ya29" not in profile_call.request.url

    identity = UserSocialAuth.objects.get()
    assert identity.provider == "google-oauth2"
    assert identity.uid == GOOGLE_SUB
    user = identity.user
    assert user.email == "carol@example.com" and user.email_verified is True
    assert (user.name, user.first_name, user.last_name, user.locale) == ("Carol Park", "Carol", "Park", "en")
    # The upstream's tokens are not kept: only what /account/ shows.
    assert set(identity.extra_data) == {"email", "email_verified", "auth_time"}

    tokens = consent_and_exchange(client, confidential_client, auth)
    claims = verify_id_token(client, tokens.id_token, audience=confidential_client.client_id, nonce=auth.nonce)
    assert claims["sub"] == user.sub and claims["sub"] != GOOGLE_SUB
    assert claims["email"] == "carol@example.com"
    assert claims["email_verified"] is True
    assert claims["name"] == "Carol Park"
    info = userinfo(client, tokens.access_token)
    assert info.status_code == 200
    assert info.json()["sub"] == user.sub
    assert info.json()["email_verified"] is True


def test_it_signs_the_same_google_account_back_in_after_its_email_changed(confidential_client, upstream):
    mock_google(upstream, sub=GOOGLE_SUB, email="carol@example.com")
    sign_in(Client(), "google-oauth2", authorize_url(confidential_client))
    first_user = User.objects.get()

    upstream.reset()
    mock_google(upstream, sub=GOOGLE_SUB, email="carol.park@example.org")
    browser = Client()
    auth = authorize_url(confidential_client)
    sign_in(browser, "google-oauth2", auth)

    assert User.objects.count() == 1
    assert UserSocialAuth.objects.get().user == first_user
    first_user.refresh_from_db()
    # Google verified the new address, and the old one came from this same identity: it follows.
    assert (first_user.email, first_user.email_verified) == ("carol.park@example.org", True)
    tokens = consent_and_exchange(browser, confidential_client, auth)
    claims = verify_id_token(browser, tokens.id_token, audience=confidential_client.client_id, nonce=auth.nonce)
    assert claims["sub"] == first_user.sub
    assert claims["email"] == "carol.park@example.org"


def test_it_refreshes_the_name_and_picture_from_google_at_each_sign_in(confidential_client, upstream):
    mock_google(upstream, sub=GOOGLE_SUB, email="carol@example.com", name="Carol Park")
    sign_in(Client(), "google-oauth2", authorize_url(confidential_client))

    upstream.reset()
    mock_google(upstream, sub=GOOGLE_SUB, email="carol@example.com", name="Carol Kim")
    sign_in(Client(), "google-oauth2", authorize_url(confidential_client))

    user = User.objects.get()
    assert (user.name, user.first_name, user.last_name) == ("Carol Kim", "Carol", "Kim")


def test_it_refuses_a_google_account_without_a_verified_email(client, confidential_client, upstream):
    auth = authorize_url(confidential_client)
    mock_google(upstream, sub=GOOGLE_SUB, email="carol@example.com", email_verified=False)
    redirect = begin(client, "google-oauth2", auth)

    done = callback(client, "google-oauth2", code="4/0Af-code", state=redirect.params["state"])

    assert done.status_code == 403
    page = done.content.decode()
    assert "Google did not confirm the email address of this account" in page
    assert f'href="{auth.url.replace("&", "&amp;")}"' in page  # back to the same authorization request
    assert not User.objects.exists() and not UserSocialAuth.objects.exists()
    assert not AuditEvent.objects.filter(event="login").exists()
    refused = AuditEvent.objects.get(event="login.failed")
    assert (refused.outcome, refused.provider) == ("refused", "google-oauth2")


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param({"nonce": "a-nonce-from-another-sign-in"}, id="wrong-nonce"),
        pytest.param({"audience": "another-apps-client-id"}, id="wrong-audience"),
        pytest.param({"azp": "another-apps-client-id"}, id="wrong-azp"),
        pytest.param({"issuer": "https://evil.example.com"}, id="wrong-issuer"),
        pytest.param({"key": jwk.JWK.generate(kty="RSA", size=2048, kid="google-key-1")}, id="forged-signature"),
    ],
)
@pytest.mark.spec("OIDC Core", "3.1.3.7", "Upstream ID token validated as a relying party")
def test_it_refuses_a_google_id_token_that_does_not_validate(client, confidential_client, upstream, tamper):
    auth = authorize_url(confidential_client)
    mock_google(upstream, sub=GOOGLE_SUB, email="carol@example.com", **tamper)
    redirect = begin(client, "google-oauth2", auth)

    done = callback(client, "google-oauth2", code="4/0Af-code", state=redirect.params["state"])

    assert done.status_code in (400, 502), done
    assert "Nothing was changed" in done.content.decode()
    assert not User.objects.exists() and not UserSocialAuth.objects.exists()
    assert calls_to(upstream, GOOGLE_USERINFO_URL) == []
