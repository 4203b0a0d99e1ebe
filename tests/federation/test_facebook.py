"""Signing in with Facebook (Graph API): fields requested explicitly, email not trusted for linking by default."""

from __future__ import annotations

import hashlib
import hmac

from django.test import Client
from social_django.models import UserSocialAuth

from idp.models import AuditEvent, User
from tests.conftest import authorize_url, verify_id_token
from tests.federation.upstream import (
    FACEBOOK_ME_URL,
    FACEBOOK_TOKEN_URL,
    begin,
    calls_to,
    consent_and_exchange,
    mock_facebook,
    sign_in,
    upstream,  # noqa: F401 (fixture)
    userinfo,
)

FACEBOOK_ID = "10158765432101234"


def test_it_sends_the_browser_to_facebook_asking_for_the_email_permission(client, confidential_client, upstream):
    redirect = begin(client, "facebook", authorize_url(confidential_client))
    assert redirect.endpoint == "https://www.facebook.com/v24.0/dialog/oauth"
    assert redirect.params["client_id"] == "facebook-app-id"
    assert redirect.params["redirect_uri"] == "http://testserver/complete/facebook/"
    assert redirect.params["scope"] == "email"
    assert redirect.params["state"]


def test_it_signs_in_with_facebook_and_issues_an_id_token_and_userinfo(client, confidential_client, upstream):
    auth = authorize_url(confidential_client)
    mock_facebook(upstream, facebook_id=FACEBOOK_ID, email="dan@example.com", name="Dan Cho")
    sign_in(client, "facebook", auth, code="AQD-facebook-code")

    (exchange,) = calls_to(upstream, FACEBOOK_TOKEN_URL)
    assert exchange.request.method == "GET"
    assert exchange.request.params == {
        "client_id": "facebook-app-id",
        "client_secret": "facebook-app-secret",
        "code": "AQD-facebook-code",
        "redirect_uri": "http://testserver/complete/facebook/",
    }
    (me,) = calls_to(upstream, FACEBOOK_ME_URL)
    # /me answers only `id` and `name` unless the fields are asked for.
    assert set(me.request.params["fields"].split(",")) >= {"id", "name", "email", "first_name", "last_name", "picture"}
    expected_proof = hmac.new(b"facebook-app-secret", b"EAAfacebook-access-token", hashlib.sha256).hexdigest()
    assert me.request.params["appsecret_proof"] == expected_proof
    # The person's token goes in the Authorization header, never in the URL.
    assert me.request.headers["Authorization"] == "Bearer EAAfacebook-access-token"
    assert "EAAfacebook-access-token" not in me.request.url

    identity = UserSocialAuth.objects.get()
    assert (identity.provider, identity.uid) == ("facebook", FACEBOOK_ID)
    user = identity.user
    assert (user.name, user.first_name, user.last_name) == ("Dan Cho", "Dan", "Cho")
    assert user.picture.startswith("https://platform-lookaside.fbsbx.com/")
    assert user.email == "dan@example.com"
    # Facebook never says whether it verified an address.
    assert user.email_verified is False

    tokens = consent_and_exchange(client, confidential_client, auth)
    claims = verify_id_token(client, tokens.id_token, audience=confidential_client.client_id, nonce=auth.nonce)
    assert claims["sub"] == user.sub
    assert claims["name"] == "Dan Cho"
    assert claims["email"] == "dan@example.com" and claims["email_verified"] is False
    info = userinfo(client, tokens.access_token)
    assert info.status_code == 200
    assert info.json()["sub"] == user.sub and info.json()["email_verified"] is False


def test_it_does_not_link_a_facebook_identity_to_a_user_with_the_same_email(confidential_client, upstream, alice):
    mock_facebook(upstream, facebook_id=FACEBOOK_ID, email="alice@example.com", name="Alice Kim")
    sign_in(Client(), "facebook", authorize_url(confidential_client))

    identity = UserSocialAuth.objects.get()
    assert identity.user != alice
    assert not alice.social_auth.exists()
    assert identity.user.email_verified is False
    assert User.objects.count() == 2
    assert not AuditEvent.objects.filter(event="identity.linked", user=alice).exists()


def test_it_links_a_facebook_identity_by_email_when_facebook_email_is_trusted(
    confidential_client, upstream, alice, settings
):
    settings.GATEHOUSE_TRUST_FACEBOOK_EMAIL = True
    mock_facebook(upstream, facebook_id=FACEBOOK_ID, email="alice@example.com", name="Alice Kim")
    sign_in(Client(), "facebook", authorize_url(confidential_client))

    assert UserSocialAuth.objects.get().user == alice
    assert User.objects.count() == 1
    linked = AuditEvent.objects.get(event="identity.linked")
    assert linked.user == alice and linked.provider == "facebook"
    assert linked.data["reason"] == "verified_email"
