"""Signing in with Google (`google-oauth2`): identities are keyed on Google's `sub`, never the email."""

from __future__ import annotations

from django.test import Client
from social_django.models import UserSocialAuth

from idp.models import AuditEvent, User
from tests.conftest import authorize_url, verify_id_token
from tests.federation.upstream import (
    GOOGLE_TOKEN_URL,
    GOOGLE_USERINFO_URL,
    begin,
    callback,
    calls_to,
    consent_and_exchange,
    form_of,
    mock_google,
    sign_in,
    upstream,  # noqa: F401 (fixture)
    userinfo,
)

GOOGLE_SUB = "110169484474386276334"


def test_it_sends_the_browser_to_google_with_openid_scopes(client, confidential_client, upstream):
    redirect = begin(client, "google-oauth2", authorize_url(confidential_client))
    assert redirect.endpoint == "https://accounts.google.com/o/oauth2/auth"
    assert redirect.params["client_id"] == "google-client-id"
    assert redirect.params["redirect_uri"] == "http://testserver/complete/google-oauth2/"
    assert redirect.params["response_type"] == "code"
    assert set(redirect.params["scope"].split()) == {"openid", "email", "profile"}
    assert redirect.params["state"]


def test_it_signs_in_with_google_and_keys_the_identity_on_sub(client, confidential_client, upstream):
    auth = authorize_url(confidential_client)
    mock_google(upstream, sub=GOOGLE_SUB, email="Carol@Example.com", name="Carol Park")
    sign_in(client, "google-oauth2", auth, code="4/0AfJohXk-google-code")

    (exchange,) = calls_to(upstream, GOOGLE_TOKEN_URL)
    sent = form_of(exchange)
    assert sent["grant_type"] == "authorization_code"
    assert sent["code"] == "4/0AfJohXk-google-code"
    assert sent["redirect_uri"] == "http://testserver/complete/google-oauth2/"
    (profile_call,) = calls_to(upstream, GOOGLE_USERINFO_URL)
    assert profile_call.request.headers["Authorization"] == "Bearer ya29.google-access-token"

    identity = UserSocialAuth.objects.get()
    assert identity.provider == "google-oauth2"
    assert identity.uid == GOOGLE_SUB
    user = identity.user
    assert user.email == "carol@example.com" and user.email_verified is True
    assert (user.name, user.first_name, user.last_name, user.locale) == ("Carol Park", "Carol", "Park", "en")
    # The upstream's access token is not kept (no load_extra_data in the pipeline).
    assert "ya29.google-access-token" not in str(identity.extra_data)

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
    tokens = consent_and_exchange(browser, confidential_client, auth)
    claims = verify_id_token(browser, tokens.id_token, audience=confidential_client.client_id, nonce=auth.nonce)
    assert claims["sub"] == first_user.sub


def test_it_refuses_a_google_account_without_a_verified_email(client, confidential_client, upstream):
    auth = authorize_url(confidential_client)
    mock_google(upstream, sub=GOOGLE_SUB, email="carol@example.com", email_verified=False)
    redirect = begin(client, "google-oauth2", auth)

    done = callback(client, "google-oauth2", code="4/0Af-code", state=redirect.params["state"])

    assert done.status_code == 302
    assert done["Location"].startswith("/login/")
    page = client.get(done["Location"])
    assert page.status_code == 200
    assert "Signing in with Google did not work" in page.content.decode()
    assert not User.objects.exists() and not UserSocialAuth.objects.exists()
    assert not AuditEvent.objects.filter(event="login").exists()
