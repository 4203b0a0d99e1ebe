"""Signing in with Kakao, end to end: client app -> Gatehouse -> Kakao (mocked) -> tokens for the client app.

This file also walks the whole token lifecycle once (introspection, refresh rotation with reuse
detection, revocation); the other upstreams stop at the ID token and userinfo.
"""

from __future__ import annotations

from django.test import Client
from social_django.models import UserSocialAuth

from idp.models import User
from tests.conftest import authorize_url, verify_id_token
from tests.federation.upstream import (
    KAKAO_PROFILE_URL,
    KAKAO_TOKEN_URL,
    begin,
    calls_to,
    consent_and_exchange,
    form_of,
    introspect,
    kakao_profile,
    mock_kakao,
    refresh,
    revoke,
    sign_in,
    upstream,  # noqa: F401 (fixture)
    userinfo,
)

KAKAO_ID = 3141592653


def _kakao_tokens(client, app, upstream, **profile):
    auth = authorize_url(app)
    mock_kakao(upstream, kakao_id=KAKAO_ID, **{"email": "hong@example.kr", **profile})
    sign_in(client, "kakao", auth)
    return auth, consent_and_exchange(client, app, auth)


def test_it_sends_the_browser_to_kakao_with_a_state(client, confidential_client, upstream):
    redirect = begin(client, "kakao", authorize_url(confidential_client))
    assert redirect.endpoint == "https://kauth.kakao.com/oauth/authorize"
    assert redirect.params["client_id"] == "kakao-rest-api-key"
    assert redirect.params["redirect_uri"] == "http://testserver/complete/kakao/"
    assert redirect.params["response_type"] == "code"
    assert len(redirect.params["state"]) >= 20
    assert len(upstream.calls) == 0  # nothing is fetched from Kakao before the person comes back


def test_it_signs_in_with_kakao_and_issues_an_id_token_and_userinfo(client, confidential_client, upstream):
    auth, tokens = _kakao_tokens(client, confidential_client, upstream)

    exchange = calls_to(upstream, KAKAO_TOKEN_URL)
    assert len(exchange) == 1
    assert form_of(exchange[0]) == {
        "grant_type": "authorization_code",
        "code": "upstream-code",
        "client_id": "kakao-rest-api-key",
        "client_secret": "kakao-client-secret",
    }
    user = User.objects.get()
    identity = UserSocialAuth.objects.get()
    assert (identity.provider, identity.uid, identity.user) == ("kakao", str(KAKAO_ID), user)

    claims = verify_id_token(client, tokens.id_token, audience=confidential_client.client_id, nonce=auth.nonce)
    assert claims["sub"] == user.sub
    assert claims["sub"] != str(KAKAO_ID) and claims["sub"] != str(user.pk)
    assert claims["email"] == "hong@example.kr" and claims["email_verified"] is True
    assert claims["exp"] > claims["iat"]

    info = userinfo(client, tokens.access_token)
    assert info.status_code == 200, info.content
    assert info.json()["sub"] == user.sub
    assert info.json()["email"] == "hong@example.kr"


def test_it_sends_the_kakao_access_token_only_in_the_authorization_header(client, confidential_client, upstream):
    _kakao_tokens(client, confidential_client, upstream)

    (profile_call,) = calls_to(upstream, KAKAO_PROFILE_URL)
    assert profile_call.request.method == "GET"
    assert profile_call.request.headers["Authorization"] == "Bearer kakao-access-token-abc"
    assert "?" not in profile_call.request.url
    for call in upstream.calls:
        assert "kakao-access-token-abc" not in call.request.url


def test_it_keeps_a_korean_nickname_as_name_and_preferred_username(client, confidential_client, upstream):
    auth, tokens = _kakao_tokens(client, confidential_client, upstream, nickname="홍길동")

    user = User.objects.get()
    assert user.username == "홍길동"
    assert user.name == "홍길동"
    claims = verify_id_token(client, tokens.id_token, audience=confidential_client.client_id, nonce=auth.nonce)
    assert claims["name"] == "홍길동"
    assert claims["preferred_username"] == "홍길동"
    info = userinfo(client, tokens.access_token).json()
    assert info["name"] == "홍길동" and info["preferred_username"] == "홍길동"


def test_it_does_not_mark_an_unverified_kakao_email_verified(client, confidential_client, upstream):
    auth, tokens = _kakao_tokens(client, confidential_client, upstream, email_verified=False)

    user = User.objects.get()
    assert user.email == "hong@example.kr"
    assert user.email_verified is False
    claims = verify_id_token(client, tokens.id_token, audience=confidential_client.client_id, nonce=auth.nonce)
    assert claims["email_verified"] is False
    assert userinfo(client, tokens.access_token).json()["email_verified"] is False


def test_it_does_not_mark_an_invalid_kakao_email_verified(client, confidential_client, upstream):
    # Kakao flags an address that stopped working (is_email_valid false) even if it was verified once.
    _kakao_tokens(client, confidential_client, upstream, email_valid=False, email_verified=True)

    assert User.objects.get().email_verified is False


def test_it_introspects_an_access_token_for_an_authenticated_client(client, confidential_client, upstream):
    _, tokens = _kakao_tokens(client, confidential_client, upstream)

    data = introspect(client, confidential_client, tokens.access_token)
    assert data["active"] is True
    assert data["client_id"] == confidential_client.client_id
    assert data["sub"] == User.objects.get().sub
    assert set(data["scope"].split()) == {"openid", "profile", "email"}
    assert data["exp"] > data["iat"]

    anonymous = client.post("/o/introspect/", {"token": tokens.access_token})
    assert anonymous.status_code == 401
    assert "active" not in anonymous.json()


def test_it_rotates_refresh_tokens_and_revokes_the_family_when_an_old_one_is_reused(
    client, confidential_client, upstream
):
    _, first = _kakao_tokens(client, confidential_client, upstream)

    second = refresh(client, confidential_client, first.refresh_token)
    assert second.status_code == 200, second.content
    second = second.json()
    assert second["refresh_token"] != first.refresh_token
    assert second["access_token"] != first.access_token
    assert introspect(client, confidential_client, first.access_token)["active"] is False

    # The rotated-in refresh token works.
    third = refresh(client, confidential_client, second["refresh_token"])
    assert third.status_code == 200, third.content
    third = third.json()
    assert introspect(client, confidential_client, third["access_token"])["active"] is True

    # RFC 9700 §4.14.2: presenting a rotated-out refresh token again means it leaked; the family dies.
    replay = refresh(client, confidential_client, first.refresh_token)
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    assert introspect(client, confidential_client, third["access_token"])["active"] is False
    assert userinfo(client, third["access_token"]).status_code == 401
    newest = refresh(client, confidential_client, third["refresh_token"])
    assert newest.status_code == 400
    assert newest.json()["error"] == "invalid_grant"


def test_it_revokes_an_access_token(client, confidential_client, upstream):
    _, tokens = _kakao_tokens(client, confidential_client, upstream)
    assert introspect(client, confidential_client, tokens.access_token)["active"] is True

    revoked = revoke(client, confidential_client, tokens.access_token)
    assert revoked.status_code == 200, revoked.content

    assert introspect(client, confidential_client, tokens.access_token)["active"] is False
    assert userinfo(client, tokens.access_token).status_code == 401
    # Revoking an access token revokes the refresh token issued with it.
    assert refresh(client, confidential_client, tokens.refresh_token).json()["error"] == "invalid_grant"


def test_it_revokes_a_refresh_token(client, confidential_client, upstream):
    _, tokens = _kakao_tokens(client, confidential_client, upstream)

    revoked = revoke(client, confidential_client, tokens.refresh_token, hint="refresh_token")
    assert revoked.status_code == 200, revoked.content

    assert refresh(client, confidential_client, tokens.refresh_token).json()["error"] == "invalid_grant"
    assert introspect(client, confidential_client, tokens.access_token)["active"] is False


def _kakao_profile_without_email(kakao_id: int) -> dict:
    """/v2/user/me for someone who declined the email consent item: no `email`, `email_needs_agreement` true."""
    profile = kakao_profile(kakao_id=kakao_id, email="", nickname="김민지")
    account = profile["kakao_account"]
    del account["email"], account["is_email_valid"], account["is_email_verified"]
    account["email_needs_agreement"] = True
    return profile


def test_it_signs_a_kakao_user_without_email_in_twice_as_the_same_person(confidential_client, upstream):
    subs = []
    for _ in range(2):
        upstream.reset()
        upstream.post(KAKAO_TOKEN_URL, json={"token_type": "bearer", "access_token": "kakao-access-token-abc",
                                             "expires_in": 21599})
        upstream.get(KAKAO_PROFILE_URL, json=_kakao_profile_without_email(KAKAO_ID))
        browser = Client()
        auth = authorize_url(confidential_client)
        sign_in(browser, "kakao", auth)
        tokens = consent_and_exchange(browser, confidential_client, auth)
        claims = verify_id_token(browser, tokens.id_token, audience=confidential_client.client_id, nonce=auth.nonce)
        assert "email" not in claims  # nothing to say, rather than an empty string
        assert claims["name"] == "김민지"
        subs.append(claims["sub"])

    assert subs[0] == subs[1] == User.objects.get().sub
    user = User.objects.get()
    assert (user.email, user.email_verified, user.username) == ("", False, "김민지")
    assert UserSocialAuth.objects.get().uid == str(KAKAO_ID)


def test_it_never_links_an_unverified_kakao_email_to_the_user_with_that_email(confidential_client, upstream, alice):
    mock_kakao(upstream, kakao_id=KAKAO_ID, email="alice@example.com", email_verified=False, nickname="앨리스")
    sign_in(Client(), "kakao", authorize_url(confidential_client))

    newcomer = UserSocialAuth.objects.get().user
    assert newcomer != alice and newcomer.email_verified is False
    assert not alice.social_auth.exists()


def test_it_takes_the_picture_from_the_kakao_profile(client, confidential_client, upstream):
    _kakao_tokens(client, confidential_client, upstream)

    assert User.objects.get().picture == "https://k.kakaocdn.net/dn/abc123/img_640x640.jpg"
