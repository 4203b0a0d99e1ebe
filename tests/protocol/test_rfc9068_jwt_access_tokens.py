"""RFC 9068, JWT profile for OAuth 2.0 access tokens: issued per client, validated by resource servers.

Gatehouse side: a client registered with `access_token_format=jwt` gets signed JWT access tokens (§2),
still recorded by django-oauth-toolkit, so introspection, userinfo and revocation work as for opaque ones.
Resource-server side: gatehouse_rs validates them locally against Gatehouse's real discovery document and
JWKS (served here by the Django test client), and its Django REST framework class authenticates with them.
"""

from __future__ import annotations

import base64
import json
import time
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from django.test import Client, RequestFactory
from jwcrypto import jwk, jws
from rest_framework import exceptions

import gatehouse_rs
from clients.models import Application
from clients.services import client_update
from gatehouse_rs import InvalidToken, JWKSCache, TokenVerifier
from gatehouse_rs.drf import GatehouseJWTAuthentication, HasScopes, TokenUser
from idp import keys
from tests.conftest import _register, approve_consent, authorize_url, dev_sign_in, exchange_code, query_of

ISSUER = "http://testserver"
RESOURCE = "https://api.example.com/orders"


def _basic(app) -> str:
    return "Basic " + base64.b64encode(f"{app.client_id}:{app.client_secret}".encode()).decode()


def _parts(token: str) -> tuple[dict, dict]:
    header, payload, _ = token.split(".")
    decode = lambda part: json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))  # noqa: E731
    return decode(header), decode(payload)


@pytest.fixture
def jwt_service(db):
    return _register(name="Reports bot", redirect_uris=[], grant="client-credentials", scopes=["gatehouse:admin"],
                     access_token_format="jwt")


@pytest.fixture
def jwt_web_app(db):
    return _register(name="Orders", redirect_uris=["https://orders.example.com/cb"], access_token_format="jwt")


def _client_credentials(client: Client, app, **extra):
    response = client.post("/o/token/", {"grant_type": "client_credentials", **extra}, HTTP_AUTHORIZATION=_basic(app))
    assert response.status_code == 200, response.content
    return response.json()


def _signed_in_tokens(client: Client, app, email: str = "alice@example.com") -> dict:
    dev_sign_in(client, email, "Alice Kim")
    auth = authorize_url(app)
    code = query_of(approve_consent(client, auth.url))["code"]
    response = exchange_code(client, app, code, auth.verifier)
    assert response.status_code == 200, response.content
    return response.json()


class DjangoClientFetch:
    """gatehouse_rs's HTTP fetch, answered by Gatehouse's real discovery and JWKS views; counts fetches."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.urls: list[str] = []

    def __call__(self, url: str, timeout: float):
        self.urls.append(url)
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}" == ISSUER
        response = self.client.get(parts.path)
        if response.status_code != 200:
            raise OSError(f"HTTP {response.status_code}")
        return response.json()


@pytest.fixture
def fetch(client) -> DjangoClientFetch:
    return DjangoClientFetch(client)


def _verifier(fetch, audience: str, **kwargs) -> TokenVerifier:
    return TokenVerifier(issuer=ISSUER, audience=audience, jwks=JWKSCache(ISSUER, fetch=fetch, **kwargs))


# --- issuing: RFC 9068 §2 -------------------------------------------------------------------------------


@pytest.mark.spec("RFC 9068", "2.2", "Required claims iss, exp, aud, sub, client_id, iat, jti")
@pytest.mark.spec("RFC 9068", "2.1", "typ at+jwt header")
def test_it_issues_a_signed_at_jwt_with_the_rfc9068_claims_for_client_credentials(client, jwt_service):
    body = _client_credentials(client, jwt_service)
    header, claims = _parts(body["access_token"])
    # §2.1: typ at+jwt, a signature with an asymmetric key named by kid.
    assert header == {"typ": "at+jwt", "alg": "RS256", "kid": keys.keyset().active_kid}
    # §2.2: no resource owner, so sub is the client itself.
    assert claims["iss"] == ISSUER
    assert claims["sub"] == claims["client_id"] == claims["aud"] == jwt_service.client_id
    assert claims["scope"] == "gatehouse:admin"
    assert claims["exp"] - claims["iat"] == body["expires_in"]
    assert abs(claims["iat"] - time.time()) < 60
    assert claims["jti"]


@pytest.mark.spec("RFC 9068", "4", "Signature validated against the issuer's keys")
def test_it_verifies_the_signature_with_the_published_jwks(client, jwt_service):
    token = _client_credentials(client, jwt_service)["access_token"]
    published = jwk.JWKSet.from_json(client.get("/o/.well-known/jwks.json").content.decode())
    verified = jws.JWS()
    verified.deserialize(token)
    verified.verify(published.get_key(_parts(token)[0]["kid"]), alg="RS256")


def test_it_gives_each_token_its_own_jti(client, jwt_service):
    first = _parts(_client_credentials(client, jwt_service)["access_token"])[1]
    second = _parts(_client_credentials(client, jwt_service)["access_token"])[1]
    assert first["jti"] != second["jti"]


@pytest.mark.spec("RFC 9068", "2.2.3", "scope claim")
def test_it_names_the_opaque_sub_of_the_person_and_the_requested_scopes(client, alice, jwt_web_app):
    tokens = _signed_in_tokens(client, jwt_web_app)
    header, claims = _parts(tokens["access_token"])
    assert header["typ"] == "at+jwt"
    assert claims["sub"] == alice.sub != str(alice.pk)
    assert claims["client_id"] == claims["aud"] == jwt_web_app.client_id
    assert set(claims["scope"].split()) == {"openid", "profile", "email"}


@pytest.mark.spec("RFC 8707", "2", "resource parameter sets the audience")
@pytest.mark.spec("RFC 9068", "3", "aud from the resource indicator")
def test_it_puts_the_requested_resource_in_aud_rfc8707(client, jwt_service):
    claims = _parts(_client_credentials(client, jwt_service, resource=RESOURCE)["access_token"])[1]
    assert claims["aud"] == RESOURCE


def test_it_refuses_a_resource_that_is_not_an_absolute_uri(client, jwt_service):
    response = client.post("/o/token/", {"grant_type": "client_credentials", "resource": "orders"},
                           HTTP_AUTHORIZATION=_basic(jwt_service))
    assert response.status_code == 400 and response.json()["error"] == "invalid_target"


def test_it_keeps_refresh_tokens_opaque(client, jwt_web_app):
    tokens = _signed_in_tokens(client, jwt_web_app)
    assert tokens["refresh_token"].count(".") == 0
    refreshed = client.post("/o/token/", {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
                            HTTP_AUTHORIZATION=_basic(jwt_web_app)).json()
    assert _parts(refreshed["access_token"])[0]["typ"] == "at+jwt"
    assert refreshed["refresh_token"].count(".") == 0


def test_it_issues_opaque_tokens_to_clients_that_did_not_choose_jwt(client, service_client):
    token = _client_credentials(client, service_client)["access_token"]
    assert "." not in token and len(token) >= 30


def test_it_switches_format_when_the_client_is_updated(client, service_client):
    application = Application.objects.get(client_id=service_client.client_id)
    client_update(application=application, access_token_format="jwt")
    assert _parts(_client_credentials(client, service_client)["access_token"])[0]["typ"] == "at+jwt"


# --- still recorded: introspection, userinfo, revocation --------------------------------------------------


@pytest.mark.spec("RFC 7662", "2.2", "Introspection of a JWT access token")
def test_it_introspects_a_jwt_access_token(client, alice, jwt_web_app):
    tokens = _signed_in_tokens(client, jwt_web_app)
    data = client.post("/o/introspect/", {"token": tokens["access_token"]}, HTTP_AUTHORIZATION=_basic(jwt_web_app))
    assert data.json()["active"] is True and data.json()["sub"] == alice.sub


def test_it_answers_userinfo_for_a_jwt_access_token(client, alice, jwt_web_app):
    tokens = _signed_in_tokens(client, jwt_web_app)
    info = client.get("/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
    assert info.status_code == 200 and info.json()["sub"] == alice.sub


@pytest.mark.spec("RFC 7009", "2.1", "Revocation of a JWT access token")
def test_it_revokes_a_jwt_access_token(client, jwt_web_app):
    tokens = _signed_in_tokens(client, jwt_web_app)
    revoked = client.post("/o/revoke_token/", {"token": tokens["access_token"]}, HTTP_AUTHORIZATION=_basic(jwt_web_app))
    assert revoked.status_code == 200
    data = client.post("/o/introspect/", {"token": tokens["access_token"]}, HTTP_AUTHORIZATION=_basic(jwt_web_app))
    assert data.json() == {"active": False}


def test_it_stores_only_a_checksum_of_the_jwt(client, jwt_service):
    from oauth2_provider.models import get_access_token_model

    _client_credentials(client, jwt_service)
    row = get_access_token_model().objects.get(application__client_id=jwt_service.client_id)
    assert row.token == "" and len(row.token_checksum) == 64


# --- choosing the format: createclient, the REST API ------------------------------------------------------


def test_it_registers_a_jwt_client_with_createclient(capsys, db):
    call_command("createclient", "--name", "Billing API client", "--grant", "client-credentials",
                 "--scope", "gatehouse:admin", "--access-token-format", "jwt", "--json")
    client_id = json.loads(capsys.readouterr().out)["client_id"]
    assert Application.objects.get(client_id=client_id).access_token_format == "jwt"


def test_it_sets_and_shows_the_format_through_the_api(client, service_client):
    token = _client_credentials(client, service_client)["access_token"]
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    created = client.post("/api/clients/", {"name": "Orders API", "grant": "client-credentials", "scopes": ["openid"],
                                             "access_token_format": "jwt"}, content_type="application/json", **headers)
    assert created.status_code == 201, created.content
    assert created.json()["access_token_format"] == "jwt"
    client_id = created.json()["client_id"]
    patched = client.patch(f"/api/clients/{client_id}/", {"access_token_format": "opaque"},
                           content_type="application/json", **headers)
    assert patched.status_code == 200 and patched.json()["access_token_format"] == "opaque"
    refused = client.patch(f"/api/clients/{client_id}/", {"access_token_format": "paseto"},
                           content_type="application/json", **headers)
    assert refused.status_code == 400 and "access_token_format" in refused.json()


# --- the resource-server helper: gatehouse_rs ---------------------------------------------------------------


def test_it_validates_a_token_locally_against_the_real_jwks(client, jwt_service, fetch):
    token = _client_credentials(client, jwt_service, resource=RESOURCE)["access_token"]
    verified = _verifier(fetch, RESOURCE).verify(token)
    assert verified.client_id == verified.sub == jwt_service.client_id
    assert verified.scopes == {"gatehouse:admin"}
    assert fetch.urls == [f"{ISSUER}/.well-known/openid-configuration", f"{ISSUER}/o/.well-known/jwks.json"]


def test_it_fetches_the_jwks_once_not_per_request(client, jwt_service, fetch):
    verifier = _verifier(fetch, jwt_service.client_id)
    for _ in range(5):
        verifier.verify(_client_credentials(client, jwt_service)["access_token"])
    assert len(fetch.urls) == 2  # discovery and JWKS, once


@pytest.mark.spec("RFC 9068", "4", "Resource server rejects a token for another audience")
def test_it_refuses_a_token_for_another_audience(client, jwt_service, fetch):
    token = _client_credentials(client, jwt_service, resource=RESOURCE)["access_token"]
    with pytest.raises(InvalidToken, match="(?i)audience"):
        _verifier(fetch, "https://api.example.com/billing").verify(token)


@pytest.mark.spec("RFC 9068", "4", "Resource server rejects another issuer")
def test_it_refuses_a_token_from_another_issuer(client, jwt_service, fetch):
    token = _client_credentials(client, jwt_service)["access_token"]
    verifier = _verifier(fetch, jwt_service.client_id)
    verifier.issuer = "https://other.example.com"
    with pytest.raises(InvalidToken, match="issuer"):
        verifier.verify(token)


@pytest.mark.spec("RFC 9068", "4", "Resource server rejects an expired token")
def test_it_refuses_an_expired_token(client, jwt_service, fetch):
    token = _client_credentials(client, jwt_service)["access_token"]
    header, claims = _parts(token)
    # The same token, as Gatehouse would have signed it two hours ago.
    claims.update(iat=claims["iat"] - 7200, exp=claims["exp"] - 7200)
    expired = jws.JWS(json.dumps(claims).encode())
    expired.add_signature(keys.active_key(), alg="RS256", protected=json.dumps(header))
    with pytest.raises(InvalidToken, match="expired"):
        _verifier(fetch, jwt_service.client_id).verify(expired.serialize(compact=True))


@pytest.mark.spec("RFC 9068", "4", "typ must be at+jwt: an ID token is refused")
def test_it_refuses_an_id_token_as_an_access_token(client, jwt_web_app, fetch):
    id_token = _signed_in_tokens(client, jwt_web_app)["id_token"]
    with pytest.raises(InvalidToken, match="at\\+jwt"):
        _verifier(fetch, jwt_web_app.client_id).verify(id_token)


def test_it_refuses_an_opaque_token(client, service_client, fetch):
    token = _client_credentials(client, service_client)["access_token"]
    with pytest.raises(InvalidToken):
        _verifier(fetch, service_client.client_id).verify(token)


def test_it_refuses_a_token_whose_signature_was_tampered_with(client, jwt_service, fetch):
    token = _client_credentials(client, jwt_service)["access_token"]
    header, payload, signature = token.split(".")
    claims = _parts(token)[1] | {"scope": "gatehouse:admin orders:write"}
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(InvalidToken):
        _verifier(fetch, jwt_service.client_id).verify(f"{header}.{forged_payload}.{signature}")


@pytest.mark.spec("RFC 9068", "4", "Only the issuer's algorithms; alg none refused")
def test_it_refuses_alg_none_and_hs256_even_with_a_known_kid(client, jwt_service, fetch):
    token = _client_credentials(client, jwt_service)["access_token"]
    header, claims = _parts(token)
    verifier = _verifier(fetch, jwt_service.client_id)
    for alg in ("none", "HS256"):
        forged_header = dict(header, alg=alg)
        encode = lambda data: base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()  # noqa: E731
        with pytest.raises(InvalidToken, match="algorithm"):
            verifier.verify(f"{encode(forged_header)}.{encode(claims)}.")


def test_it_refetches_the_jwks_for_a_key_rotated_in_after_the_first_fetch(client, jwt_service, fetch):
    verifier = _verifier(fetch, jwt_service.client_id, refetch_interval=0)
    verifier.verify(_client_credentials(client, jwt_service)["access_token"])
    keys.key_create(activate=True)  # rotatekeys
    rotated = _client_credentials(client, jwt_service)["access_token"]
    assert _parts(rotated)[0]["kid"] == keys.keyset().active_kid
    assert verifier.verify(rotated).client_id == jwt_service.client_id
    assert fetch.urls.count(f"{ISSUER}/o/.well-known/jwks.json") == 2


def test_it_does_not_refetch_the_jwks_for_every_unknown_kid(client, jwt_service, fetch):
    verifier = _verifier(fetch, jwt_service.client_id, refetch_interval=3600)
    token = _client_credentials(client, jwt_service)["access_token"]
    verifier.verify(token)
    header, payload, signature = token.split(".")
    for n in range(10):
        made_up = dict(_parts(token)[0], kid=f"made-up-{n}")
        encoded = base64.urlsafe_b64encode(json.dumps(made_up).encode()).rstrip(b"=").decode()
        with pytest.raises(InvalidToken, match="key"):
            verifier.verify(f"{encoded}.{payload}.{signature}")
    assert fetch.urls.count(f"{ISSUER}/o/.well-known/jwks.json") == 1


def test_it_keeps_validating_with_cached_keys_while_the_issuer_is_down(client, jwt_service, fetch):
    verifier = _verifier(fetch, jwt_service.client_id, max_age=0, refetch_interval=0)
    token = _client_credentials(client, jwt_service)["access_token"]
    verifier.verify(token)

    def down(url: str, timeout: float):
        raise OSError("connection refused")

    verifier.jwks._fetch = down
    assert verifier.verify(token).client_id == jwt_service.client_id


def test_it_checks_required_scopes(client, jwt_service, fetch):
    token = _client_credentials(client, jwt_service)["access_token"]
    verifier = _verifier(fetch, jwt_service.client_id)
    assert verifier.verify(token, required_scopes=["gatehouse:admin"])
    with pytest.raises(InvalidToken, match="scope"):
        verifier.verify(token, required_scopes=["orders:write"])


def test_it_keeps_one_verifier_per_issuer_and_audience(monkeypatch, client, jwt_service, fetch):
    monkeypatch.setattr(gatehouse_rs, "_verifiers", {})
    monkeypatch.setattr(gatehouse_rs, "_fetch_json", fetch)
    for _ in range(3):
        token = _client_credentials(client, jwt_service)["access_token"]
        gatehouse_rs.verify_access_token(token, audience=jwt_service.client_id, issuer=ISSUER)
    assert len(gatehouse_rs._verifiers) == 1
    assert fetch.urls.count(f"{ISSUER}/o/.well-known/jwks.json") == 1


# --- the Django REST framework class ----------------------------------------------------------------------


@pytest.fixture
def drf_settings(settings, monkeypatch, fetch, jwt_service):
    settings.GATEHOUSE_ISSUER = ISSUER
    settings.GATEHOUSE_AUDIENCE = RESOURCE
    verifier = _verifier(fetch, RESOURCE)
    monkeypatch.setattr(gatehouse_rs, "_verifiers", {(ISSUER, RESOURCE): verifier})
    return settings


def test_it_authenticates_a_drf_request_with_a_jwt_access_token(client, jwt_service, drf_settings):
    token = _client_credentials(client, jwt_service, resource=RESOURCE)["access_token"]
    request = RequestFactory().get("/orders/", HTTP_AUTHORIZATION=f"Bearer {token}")
    user, verified = GatehouseJWTAuthentication().authenticate(request)
    assert isinstance(user, TokenUser) and user.is_authenticated
    assert user.sub == jwt_service.client_id and verified.scopes == {"gatehouse:admin"}


def test_it_answers_401_with_a_bearer_challenge_for_a_bad_token(drf_settings):
    authentication = GatehouseJWTAuthentication()
    request = RequestFactory().get("/orders/", HTTP_AUTHORIZATION="Bearer not-a-jwt")
    with pytest.raises(exceptions.AuthenticationFailed):
        authentication.authenticate(request)
    assert authentication.authenticate_header(request).startswith('Bearer realm="api"')


def test_it_leaves_requests_without_a_bearer_token_to_other_classes(drf_settings):
    request = RequestFactory().get("/orders/", HTTP_AUTHORIZATION="Basic dXNlcjpwYXNz")
    assert GatehouseJWTAuthentication().authenticate(request) is None


def test_it_requires_the_views_scopes(client, jwt_service, drf_settings):
    token = _client_credentials(client, jwt_service, resource=RESOURCE)["access_token"]
    request = RequestFactory().get("/orders/", HTTP_AUTHORIZATION=f"Bearer {token}")
    user, verified = GatehouseJWTAuthentication().authenticate(request)
    request.auth = verified

    class View:
        required_scopes = ["gatehouse:admin"]

    assert HasScopes().has_permission(request, View())
    View.required_scopes = ["orders:write"]
    assert not HasScopes().has_permission(request, View())
