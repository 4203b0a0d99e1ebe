"""RFC 8693 token exchange at /o/token/: a native app trades an upstream access token for Gatehouse tokens,
but only a token the upstream confirms was issued to *our* app there."""

from __future__ import annotations

import pytest
import requests
import responses
from social_django.models import UserSocialAuth

from federation.models import TokenExchangeClient
from idp.models import AuditEvent, User
from tests.conftest import verify_id_token
from tests.federation.upstream import (
    ACCESS_TOKEN_TYPE,
    FACEBOOK_DEBUG_TOKEN_URL,
    FACEBOOK_ID,
    FACEBOOK_ME_URL,
    FACEBOOK_TOKEN,
    GOOGLE_SUB,
    GOOGLE_TOKEN,
    GOOGLE_TOKENINFO_URL,
    GOOGLE_USERINFO_URL,
    KAKAO_APP_ID,
    KAKAO_ID,
    KAKAO_PROFILE_URL,
    KAKAO_TOKEN,
    KAKAO_TOKEN_INFO_URL,
    calls_to,
    exchange,
    form_of,
    introspect,
    kakao_profile,
    mock_facebook_token,
    mock_google_token,
    mock_kakao_token,
    refresh,
    upstream,  # noqa: F401 (fixture)
    userinfo,
)


def _nothing_created() -> bool:
    return not User.objects.exists() and not UserSocialAuth.objects.exists()


def _exchange_audit() -> AuditEvent:
    (record,) = AuditEvent.objects.filter(event="token_exchange")
    return record


# ---------------------------------------------------------------------------------------------
# A token of our app: Gatehouse tokens
# ---------------------------------------------------------------------------------------------


@pytest.mark.spec("RFC 8693", "2.2", "Successful token exchange response")
def test_it_exchanges_a_kakao_token_of_our_app_for_gatehouse_tokens(client, native_app, upstream):
    mock_kakao_token(upstream, nickname="홍길동")

    response = exchange(client, native_app, KAKAO_TOKEN, "kakao", headers={"User-Agent": "GatehouseApp/1.0 (iOS)"})

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["issued_token_type"] == ACCESS_TOKEN_TYPE  # RFC 8693 §2.2.1
    assert body["token_type"] == "Bearer"
    assert body["access_token"] and body["refresh_token"]
    assert response["Cache-Control"] == "no-store"
    user = UserSocialAuth.objects.get(provider="kakao", uid=str(KAKAO_ID)).user
    claims = verify_id_token(client, body["id_token"], audience=native_app.client_id)
    assert claims["sub"] == user.sub
    assert claims["name"] == "홍길동" and claims["email"] == "hong@example.kr" and claims["email_verified"] is True
    assert userinfo(client, body["access_token"]).json()["sub"] == user.sub

    # The token only ever travelled in the Authorization header.
    (info_call,) = calls_to(upstream, KAKAO_TOKEN_INFO_URL)
    assert info_call.request.headers["Authorization"] == f"Bearer {KAKAO_TOKEN}"
    assert all(KAKAO_TOKEN not in call.request.url for call in upstream.calls)
    record = _exchange_audit()
    assert (record.outcome, record.user, record.provider) == ("success", user, "kakao")
    assert record.client_id == native_app.client_id and record.user_agent == "GatehouseApp/1.0 (iOS)"
    assert AuditEvent.objects.filter(event="user.created", user=user, client_id=native_app.client_id).exists()


@pytest.mark.spec("RFC 8693", "2.1", "subject_token validated before exchange")
def test_it_exchanges_a_google_token_issued_to_our_client(client, native_app, upstream):
    mock_google_token(upstream)

    response = exchange(client, native_app, GOOGLE_TOKEN, "google-oauth2")

    assert response.status_code == 200, response.content
    user = UserSocialAuth.objects.get(provider="google-oauth2", uid=GOOGLE_SUB).user
    assert verify_id_token(client, response.json()["id_token"], audience=native_app.client_id)["sub"] == user.sub
    (check,) = calls_to(upstream, GOOGLE_TOKENINFO_URL)
    # In the body of a POST: never in a URL.
    assert form_of(check) == {"access_token": GOOGLE_TOKEN} and GOOGLE_TOKEN not in check.request.url


def test_it_exchanges_a_google_token_of_our_native_client_id(client, native_app, upstream, settings):
    # The Android app has its own Google client id in the same Google project.
    settings.GATEHOUSE_GOOGLE_NATIVE_CLIENT_IDS = ["android-client-id.apps.googleusercontent.com"]
    mock_google_token(upstream, aud="android-client-id.apps.googleusercontent.com",
                      azp="android-client-id.apps.googleusercontent.com")

    assert exchange(client, native_app, GOOGLE_TOKEN, "google-oauth2").status_code == 200


def test_it_exchanges_a_facebook_token_of_our_app(client, native_app, upstream):
    mock_facebook_token(upstream)

    response = exchange(client, native_app, FACEBOOK_TOKEN, "facebook")

    assert response.status_code == 200, response.content
    assert UserSocialAuth.objects.get(provider="facebook").uid == FACEBOOK_ID
    (check,) = calls_to(upstream, FACEBOOK_DEBUG_TOKEN_URL)
    assert check.request.params == {"input_token": FACEBOOK_TOKEN}
    assert check.request.headers["Authorization"] == "Bearer facebook-app-id|facebook-app-secret"
    (me,) = calls_to(upstream, FACEBOOK_ME_URL)
    assert "access_token" not in me.request.params and me.request.params["appsecret_proof"]


def test_it_applies_the_linking_policy_to_exchanged_tokens(client, native_app, upstream, alice):
    # Kakao verified alice's address: the same person as the alice who signed in on the web.
    mock_kakao_token(upstream, email="alice@example.com")

    response = exchange(client, native_app, KAKAO_TOKEN, "kakao")

    assert response.status_code == 200
    assert UserSocialAuth.objects.get().user == alice
    assert verify_id_token(client, response.json()["id_token"], audience=native_app.client_id)["sub"] == alice.sub
    linked = AuditEvent.objects.get(event="identity.linked")
    assert linked.user == alice and linked.data == {"reason": "verified_email"}


def test_it_signs_the_same_kakao_account_in_again_and_refreshes(client, native_app, upstream):
    mock_kakao_token(upstream)
    first = exchange(client, native_app, KAKAO_TOKEN, "kakao").json()
    second = exchange(client, native_app, KAKAO_TOKEN, "kakao").json()

    assert User.objects.count() == 1 and UserSocialAuth.objects.count() == 1
    sub = User.objects.get().sub
    assert verify_id_token(client, second["id_token"], audience=native_app.client_id)["sub"] == sub
    refreshed = client.post("/o/token/", {"grant_type": "refresh_token", "refresh_token": first["refresh_token"],
                                          "client_id": native_app.client_id})
    assert refreshed.status_code == 200, refreshed.content


# ---------------------------------------------------------------------------------------------
# A token of another app: invalid_request (RFC 8693 §2.2.2), and nothing created
# ---------------------------------------------------------------------------------------------


def _assert_refused(response, upstream, profile_url: str) -> None:
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid_request"
    assert _nothing_created()
    assert calls_to(upstream, profile_url) == []  # the profile of someone else's token is never even read
    assert _exchange_audit().outcome == "refused"


def test_it_refuses_a_kakao_token_issued_to_another_app(client, native_app, upstream):
    mock_kakao_token(upstream, app_id="7654321")

    _assert_refused(exchange(client, native_app, KAKAO_TOKEN, "kakao"), upstream, KAKAO_PROFILE_URL)


def test_it_refuses_kakao_tokens_when_our_kakao_app_id_is_not_configured(client, native_app, upstream, settings):
    settings.GATEHOUSE_KAKAO_APP_ID = ""
    mock_kakao_token(upstream)

    _assert_refused(exchange(client, native_app, KAKAO_TOKEN, "kakao"), upstream, KAKAO_PROFILE_URL)


@pytest.mark.spec("RFC 8693", "2.2.2", "subject_token issued to another client → invalid_request")
@pytest.mark.parametrize("issued_to", [{"aud": "someone-elses-client"}, {"azp": "someone-elses-client"}])
def test_it_refuses_a_google_token_issued_to_another_client(client, native_app, upstream, issued_to):
    mock_google_token(upstream, **issued_to)

    _assert_refused(exchange(client, native_app, GOOGLE_TOKEN, "google-oauth2"), upstream, GOOGLE_USERINFO_URL)


@pytest.mark.parametrize("debug", [{"app_id": "1999999999"}, {"is_valid": False}])
def test_it_refuses_a_facebook_token_of_another_app_or_no_longer_valid(client, native_app, upstream, debug):
    mock_facebook_token(upstream, **debug)

    _assert_refused(exchange(client, native_app, FACEBOOK_TOKEN, "facebook"), upstream, FACEBOOK_ME_URL)


@pytest.mark.spec("RFC 8693", "2.2.2", "Invalid subject_token refused")
def test_it_refuses_a_token_the_upstream_does_not_know(client, native_app, upstream):
    upstream.get(KAKAO_TOKEN_INFO_URL, status=401, json={"msg": "this access token does not exist", "code": -401})

    _assert_refused(exchange(client, native_app, "expired-or-made-up", "kakao"), upstream, KAKAO_PROFILE_URL)


def test_it_refuses_a_token_whose_profile_is_of_another_account(client, native_app, upstream):
    # access_token_info and /v2/user/me must describe the same Kakao account.
    upstream.get(KAKAO_TOKEN_INFO_URL, json={"id": KAKAO_ID, "expires_in": 7199, "app_id": int(KAKAO_APP_ID)})
    upstream.get(KAKAO_PROFILE_URL, json=kakao_profile(kakao_id=999, email="someone@example.kr"))

    response = exchange(client, native_app, KAKAO_TOKEN, "kakao")

    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
    assert _nothing_created()


@pytest.mark.parametrize("issuer", ["oidc", "dev", "github", ""])
def test_it_refuses_upstreams_without_a_token_check(client, native_app, upstream, issuer):
    response = exchange(client, native_app, KAKAO_TOKEN, issuer)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert len(upstream.calls) == 0 and _nothing_created()


def test_it_answers_503_when_the_upstream_is_down_and_creates_nothing(client, native_app, upstream):
    upstream.add(responses.GET, KAKAO_TOKEN_INFO_URL, body=requests.exceptions.ConnectTimeout("timed out"))

    response = exchange(client, native_app, KAKAO_TOKEN, "kakao")

    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"
    assert _nothing_created()
    assert _exchange_audit().outcome == "failure"


# ---------------------------------------------------------------------------------------------
# Who may exchange, and how the request must look
# ---------------------------------------------------------------------------------------------


@pytest.mark.spec("RFC 8693", "2.1", "Exchange only for clients allowed to use the grant")
def test_it_refuses_a_client_not_allowed_to_exchange_tokens(client, public_client, upstream):
    mock_kakao_token(upstream)

    response = exchange(client, public_client, KAKAO_TOKEN, "kakao")

    assert response.status_code == 400 and response.json()["error"] == "unauthorized_client"
    assert len(upstream.calls) == 0 and _nothing_created()


def test_it_refuses_an_allowed_client_that_is_not_first_party(client, native_app, upstream):
    native_app.application.trusted = False
    native_app.application.save(update_fields=["trusted"])
    mock_kakao_token(upstream)

    response = exchange(client, native_app, KAKAO_TOKEN, "kakao")

    assert response.json()["error"] == "unauthorized_client"
    assert len(upstream.calls) == 0 and _nothing_created()


def test_it_refuses_an_upstream_the_client_may_not_exchange(client, native_app, upstream):
    TokenExchangeClient.objects.filter(application=native_app.application).update(upstreams="google-oauth2")
    mock_kakao_token(upstream)

    response = exchange(client, native_app, KAKAO_TOKEN, "kakao")

    assert response.json()["error"] == "invalid_request"
    assert len(upstream.calls) == 0 and _nothing_created()


def test_it_honours_the_upstreams_the_client_accepts(client, native_app, upstream):
    native_app.application.allowed_upstreams = "google-oauth2"
    native_app.application.save(update_fields=["allowed_upstreams"])
    mock_kakao_token(upstream)

    response = exchange(client, native_app, KAKAO_TOKEN, "kakao")

    assert response.json()["error"] == "invalid_request"
    assert len(upstream.calls) == 0 and _nothing_created()


def test_it_refuses_an_unregistered_client(client, upstream, db):
    mock_kakao_token(upstream)
    app = type("Unregistered", (), {"client_id": "no-such-client"})

    response = exchange(client, app, KAKAO_TOKEN, "kakao")

    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    assert len(upstream.calls) == 0


@pytest.mark.spec("RFC 8693", "2.1", "Client authentication per RFC 6749 §2.3")
def test_it_refuses_a_confidential_client_without_its_secret(client, native_app, confidential_client, upstream):
    TokenExchangeClient.objects.create(application=confidential_client.application)
    confidential_client.application.trusted = True
    confidential_client.application.save(update_fields=["trusted"])

    response = exchange(client, confidential_client, KAKAO_TOKEN, "kakao")

    assert response.json()["error"] == "invalid_client"
    assert len(upstream.calls) == 0


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"subject_token": None}, id="no-subject-token"),
        pytest.param({"subject_issuer": None}, id="no-subject-issuer"),
        pytest.param({"subject_token_type": "urn:ietf:params:oauth:token-type:id_token"}, id="id-token-type"),
        pytest.param({"requested_token_type": "urn:ietf:params:oauth:token-type:jwt"}, id="jwt-requested"),
        pytest.param({"actor_token": "x", "actor_token_type": ACCESS_TOKEN_TYPE}, id="delegation"),
    ],
)
@pytest.mark.spec("RFC 8693", "2.1", "Required parameters: subject_token, subject_token_type")
def test_it_answers_invalid_request_to_a_malformed_exchange(client, native_app, upstream, change):
    mock_kakao_token(upstream)

    response = exchange(client, native_app, KAKAO_TOKEN, "kakao", **change)

    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
    assert len(upstream.calls) == 0 and _nothing_created()


@pytest.mark.spec("RFC 8693", "2.1", "scope limited to the client's → invalid_scope")
def test_it_refuses_scopes_the_client_may_not_ask_for(client, native_app, upstream):
    mock_kakao_token(upstream)

    response = exchange(client, native_app, KAKAO_TOKEN, "kakao", scope="openid gatehouse:admin")

    assert response.json()["error"] == "invalid_scope"
    assert len(upstream.calls) == 0


def test_it_issues_tokens_only_for_the_client_itself(client, native_app, upstream):
    mock_kakao_token(upstream)

    response = exchange(client, native_app, KAKAO_TOKEN, "kakao", audience="another-client")

    assert response.json()["error"] == "invalid_target"
    assert len(upstream.calls) == 0


def test_it_ties_exchanged_tokens_to_the_client_that_asked(client, native_app, confidential_client, upstream):
    mock_kakao_token(upstream)
    body = exchange(client, native_app, KAKAO_TOKEN, "kakao").json()

    data = introspect(client, confidential_client, body["access_token"])
    assert data["active"] is True and data["client_id"] == native_app.client_id
    # Another client cannot refresh what the native app was given.
    assert refresh(client, confidential_client, body["refresh_token"]).json()["error"] == "invalid_grant"


def test_it_refuses_to_exchange_for_a_disabled_account(client, native_app, upstream, alice):
    mock_kakao_token(upstream, email="alice@example.com")
    assert exchange(client, native_app, KAKAO_TOKEN, "kakao").status_code == 200
    alice.is_active = False
    alice.save(update_fields=["is_active"])

    response = exchange(client, native_app, KAKAO_TOKEN, "kakao")

    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
    assert AuditEvent.objects.filter(event="token_exchange", outcome="refused").count() == 1


def test_it_refuses_a_google_account_without_a_verified_email(client, native_app, upstream):
    mock_google_token(upstream, email_verified=False)

    response = exchange(client, native_app, GOOGLE_TOKEN, "google-oauth2")

    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
    assert _nothing_created()
