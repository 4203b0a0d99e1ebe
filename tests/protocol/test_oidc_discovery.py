"""OpenID Connect Discovery 1.0 and RFC 8414 metadata say what Gatehouse really does."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.spec("OIDC Discovery", "4.3", "issuer identical to the configured issuer, never the Host header")
def test_it_publishes_the_issuer_exactly_as_gatehouse_url(client, settings):
    data = client.get("/.well-known/openid-configuration", HTTP_HOST="localhost").json()
    assert data["issuer"] == settings.GATEHOUSE_URL == "http://testserver"
    # Endpoints follow the issuer too, never the Host header a request happened to carry.
    assert data["token_endpoint"] == "http://testserver/o/token/"


@pytest.mark.spec("OIDC Discovery", "3", "Provider metadata names every endpoint")
def test_it_names_every_endpoint(client):
    data = client.get("/.well-known/openid-configuration").json()
    for key, path in {
        "authorization_endpoint": "/o/authorize/",
        "token_endpoint": "/o/token/",
        "userinfo_endpoint": "/o/userinfo/",
        "jwks_uri": "/o/.well-known/jwks.json",
        "introspection_endpoint": "/o/introspect/",
        "revocation_endpoint": "/o/revoke_token/",
        "end_session_endpoint": "/o/logout/",
    }.items():
        assert data[key] == "http://testserver" + path, key


@pytest.mark.spec("OIDC Discovery", "3", "response_types, grant_types, algorithms as implemented")
@pytest.mark.spec("RFC 9207", "3", "authorization_response_iss_parameter_supported")
@pytest.mark.spec("RFC 9700", "2.1.1", "code_challenge_methods_supported: S256 only")
def test_it_advertises_only_the_code_flow_with_s256(client):
    data = client.get("/.well-known/openid-configuration").json()
    assert data["response_types_supported"] == ["code"]
    assert data["code_challenge_methods_supported"] == ["S256"]
    assert set(data["grant_types_supported"]) == {
        "authorization_code", "refresh_token", "client_credentials",
        "urn:ietf:params:oauth:grant-type:token-exchange",  # RFC 8693, for native apps (federation/token_exchange.py)
    }
    assert data["id_token_signing_alg_values_supported"] == ["RS256"]
    assert data["authorization_response_iss_parameter_supported"] is True


@pytest.mark.spec("OIDC Discovery", "3", "claims_supported")
def test_it_lists_the_claims_it_can_release(client):
    claims = set(client.get("/.well-known/openid-configuration").json()["claims_supported"])
    assert {"sub", "name", "given_name", "family_name", "picture", "locale", "preferred_username", "email",
            "email_verified", "auth_time"} <= claims  # fmt: skip


@pytest.mark.spec("RFC 8414", "3", "Metadata at /.well-known/oauth-authorization-server")
@pytest.mark.spec("RFC 8414", "2", "Metadata values (issuer, jwks_uri, PKCE, grant types)")
def test_it_serves_rfc8414_metadata_at_the_root(client):
    data = client.get("/.well-known/oauth-authorization-server").json()
    assert data["issuer"] == "http://testserver"
    assert data["jwks_uri"] == "http://testserver/o/.well-known/jwks.json"
    assert data["code_challenge_methods_supported"] == ["S256"]
    assert "implicit" not in data["grant_types_supported"] and "password" not in data["grant_types_supported"]


@pytest.mark.spec("OIDC Core", "10.1", "Signing keys published in the JWKS, public parts only")
@pytest.mark.spec("OIDF", "oidcc-discovery-endpoint-verification", "jwks_uri serves the signing key")
def test_it_publishes_an_rsa_signing_key_in_the_jwks(client):
    keys = client.get("/o/.well-known/jwks.json").json()["keys"]
    assert len(keys) == 1
    assert keys[0]["kty"] == "RSA" and keys[0]["alg"] == "RS256" and keys[0]["use"] == "sig" and keys[0]["kid"]
    assert "d" not in keys[0] and "p" not in keys[0]  # never the private part
