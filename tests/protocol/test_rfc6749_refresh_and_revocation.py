"""Refresh rotation with reuse detection (RFC 9700 §4.14.2), revocation (RFC 7009), introspection (RFC 7662)."""

from __future__ import annotations

import base64

import pytest

from clients.models import Application
from tests.conftest import approve_consent, authorize_url, dev_sign_in, exchange_code, query_of


@pytest.fixture
def tokens(client, confidential_client):
    dev_sign_in(client, "carol@example.com", "Carol")
    auth = authorize_url(confidential_client)
    params = query_of(approve_consent(client, auth.url))
    return exchange_code(client, confidential_client, params["code"], auth.verifier).json()


def _basic(app) -> str:
    return "Basic " + base64.b64encode(f"{app.client_id}:{app.client_secret}".encode()).decode()


def _refresh(client, app, refresh_token):
    return client.post(
        "/o/token/", {"grant_type": "refresh_token", "refresh_token": refresh_token}, HTTP_AUTHORIZATION=_basic(app)
    )


def _introspect(client, app, token):
    return client.post("/o/introspect/", {"token": token}, HTTP_AUTHORIZATION=_basic(app)).json()


@pytest.mark.spec("RFC 9700", "4.14.2", "Refresh token rotation")
@pytest.mark.spec("RFC 6749", "6", "Refresh grant issues new tokens")
@pytest.mark.spec("OIDF", "oidcc-refresh-token", "Refresh token grant works and rotates")
def test_it_rotates_the_refresh_token(client, confidential_client, tokens):
    response = _refresh(client, confidential_client, tokens["refresh_token"])
    assert response.status_code == 200, response.content
    new = response.json()
    assert new["refresh_token"] != tokens["refresh_token"]
    assert new["access_token"] != tokens["access_token"]
    assert _introspect(client, confidential_client, new["access_token"])["active"] is True
    assert _introspect(client, confidential_client, tokens["access_token"])["active"] is False


@pytest.mark.spec("RFC 9700", "4.14.2", "Reuse of a rotated refresh token revokes the family")
def test_it_revokes_the_whole_family_when_a_rotated_refresh_token_is_reused(client, confidential_client, tokens):
    new = _refresh(client, confidential_client, tokens["refresh_token"]).json()
    replay = _refresh(client, confidential_client, tokens["refresh_token"])
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    # The thief's replay also burns the legitimate newest tokens.
    assert _refresh(client, confidential_client, new["refresh_token"]).json().get("error") == "invalid_grant"
    assert _introspect(client, confidential_client, new["access_token"])["active"] is False


@pytest.mark.spec("RFC 6749", "6", "Refresh token bound to its client")
@pytest.mark.spec("RFC 9700", "4.14.2", "Refresh tokens sender-constrained to the client")
def test_it_refuses_a_refresh_token_presented_by_another_client(client, confidential_client, trusted_client, tokens):
    other = Application.objects.get(client_id=trusted_client.client_id)
    assert other.client_type == "confidential"
    response = _refresh(client, trusted_client, tokens["refresh_token"])
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


@pytest.mark.spec("RFC 7662", "2.2", "Introspection response: active, client_id, sub, scope, iss")
def test_it_introspects_an_active_token_with_the_opaque_sub(client, confidential_client, tokens, django_user_model):
    data = _introspect(client, confidential_client, tokens["access_token"])
    user = django_user_model.objects.get(email="carol@example.com")
    assert data["active"] is True and data["client_id"] == confidential_client.client_id
    assert data["sub"] == user.sub and data["scope"] == "openid profile email"
    assert data["iss"] == "http://testserver"


@pytest.mark.spec("RFC 7662", "2.1", "Introspection requires authorization of the caller")
def test_it_refuses_introspection_without_client_authentication(client, tokens):
    response = client.post("/o/introspect/", {"token": tokens["access_token"]})
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


@pytest.mark.spec("RFC 7009", "2.1", "Revocation of an access token")
@pytest.mark.spec("RFC 7009", "2.2", "200 response; token no longer usable")
def test_it_revokes_an_access_token(client, confidential_client, tokens):
    response = client.post(
        "/o/revoke_token/", {"token": tokens["access_token"]}, HTTP_AUTHORIZATION=_basic(confidential_client)
    )
    assert response.status_code == 200
    assert _introspect(client, confidential_client, tokens["access_token"])["active"] is False
    info = client.get("/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
    assert info.status_code in (401, 403)


@pytest.mark.spec("RFC 7009", "2.1", "Revocation of a refresh token with token_type_hint")
def test_it_revokes_a_refresh_token(client, confidential_client, tokens):
    client.post("/o/revoke_token/", {"token": tokens["refresh_token"], "token_type_hint": "refresh_token"},
                HTTP_AUTHORIZATION=_basic(confidential_client))  # fmt: skip
    assert _refresh(client, confidential_client, tokens["refresh_token"]).json()["error"] == "invalid_grant"


@pytest.mark.spec("RFC 6749", "10.3", "Access tokens kept confidential at rest")
def test_it_stores_tokens_hashed_at_rest(tokens):
    from oauth2_provider.models import AccessToken, RefreshToken

    assert not AccessToken.objects.filter(token=tokens["access_token"]).exists()
    assert not RefreshToken.objects.filter(token=tokens["refresh_token"]).exists()
    assert AccessToken.objects.filter(token_checksum__isnull=False).exclude(token_checksum="").count() == 1
