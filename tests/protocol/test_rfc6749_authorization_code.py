"""The authorization code flow end to end, and what it refuses (RFC 6749 §4.1, RFC 7636, RFC 9207)."""

from __future__ import annotations

import base64

import pytest

from tests.conftest import (
    approve_consent,
    authorize_url,
    consent_form,
    dev_sign_in,
    exchange_code,
    query_of,
    verify_id_token,
)


def _signed_in(client, user_email="carol@example.com"):
    dev_sign_in(client, user_email, "Carol")


def _code_for(client, app, **extra):
    auth = authorize_url(app, **extra)
    location = approve_consent(client, auth.url)
    return auth, query_of(location)


@pytest.mark.spec("OIDC Core", "3.1.2.3", "Unauthenticated end-user is sent to authenticate")
def test_it_sends_unauthenticated_users_to_the_login_page_with_next(client, confidential_client):
    auth = authorize_url(confidential_client)
    response = client.get(auth.url)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")
    page = client.get(response["Location"])
    assert b"Sign in to continue to Wiki" in page.content
    assert b'src="https://app.example.com/logo.png"' in page.content


@pytest.mark.spec("RFC 6749", "4.1.2", "Authorization response echoes state")
@pytest.mark.spec("RFC 7636", "4.6", "Token endpoint verifies code_verifier against the S256 challenge")
@pytest.mark.spec("RFC 9207", "2", "iss parameter in the authorization response")
@pytest.mark.spec("OIDC Core", "3.1.3.7", "ID token validates against the JWKS: iss, aud, exp, nonce")
@pytest.mark.spec("OIDC Core", "2", "auth_time in the ID token")
@pytest.mark.spec("OIDF", "oidcc-server", "Basic code flow: code, tokens, verified ID token")
@pytest.mark.spec("OIDF", "oidcc-server-client-secret-post", "Client authentication with client_secret_post")
@pytest.mark.spec("OIDF", "oidcc-ensure-request-with-valid-pkce-succeeds", "A valid PKCE S256 request succeeds")
def test_it_issues_code_with_state_and_iss_and_tokens_for_the_pkce_verifier(client, confidential_client):
    auth = authorize_url(confidential_client)
    client.get(auth.url)
    done = dev_sign_in(client, "carol@example.com", "Carol Park", next_url=auth.url)
    assert done["Location"] == auth.url
    params = query_of(approve_consent(client, auth.url))
    assert params["state"] == auth.state
    assert params["iss"] == "http://testserver"  # RFC 9207

    response = exchange_code(client, confidential_client, params["code"], auth.verifier)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["token_type"] == "Bearer" and body["refresh_token"] and body["access_token"]
    claims = verify_id_token(client, body["id_token"], audience=confidential_client.client_id, nonce=auth.nonce)
    assert claims["email"] == "carol@example.com" and claims["email_verified"] is True
    assert claims["name"] == "Carol Park"
    assert claims["preferred_username"] == "Carol.Park"
    assert isinstance(claims["auth_time"], int)


@pytest.mark.spec("OIDC Core", "2", "sub: locally unique, never reassigned, opaque")
def test_it_gives_an_opaque_stable_sub_never_the_row_id(client, confidential_client, django_user_model):
    _signed_in(client)
    auth, params = _code_for(client, confidential_client)
    body = exchange_code(client, confidential_client, params["code"], auth.verifier).json()
    claims = verify_id_token(client, body["id_token"], audience=confidential_client.client_id)
    user = django_user_model.objects.get(email="carol@example.com")
    assert claims["sub"] == user.sub
    assert claims["sub"] != str(user.pk) and len(claims["sub"]) >= 24


@pytest.mark.spec("OIDC Core", "5.4", "Claims released only for the granted scopes")
def test_it_releases_claims_only_for_granted_scopes(client, confidential_client):
    _signed_in(client)
    auth, params = _code_for(client, confidential_client, scope="openid")
    body = exchange_code(client, confidential_client, params["code"], auth.verifier).json()
    claims = verify_id_token(client, body["id_token"], audience=confidential_client.client_id)
    assert "email" not in claims and "name" not in claims
    info = client.get("/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {body['access_token']}").json()
    assert set(info) == {"sub"}


@pytest.mark.spec("OIDC Core", "5.3", "UserInfo endpoint answers for a valid access token, refuses an invalid one")
@pytest.mark.spec("OIDF", "oidcc-userinfo-get", "UserInfo by GET with a bearer header")
def test_it_serves_userinfo_for_the_access_token(client, confidential_client):
    _signed_in(client)
    auth, params = _code_for(client, confidential_client)
    body = exchange_code(client, confidential_client, params["code"], auth.verifier).json()
    info = client.get("/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {body['access_token']}")
    assert info.status_code == 200
    assert info.json()["email"] == "carol@example.com"
    assert client.get("/o/userinfo/", HTTP_AUTHORIZATION="Bearer not-a-token").status_code in (401, 403)


@pytest.mark.spec("RFC 6749", "3.1.2", "Redirect URI must match a registered one; no redirect otherwise")
@pytest.mark.spec("RFC 6749", "4.1.2.1", "Invalid redirect URI: inform the user, never redirect")
@pytest.mark.spec("RFC 9700", "4.1", "Exact redirect URI matching")
@pytest.mark.spec("OIDF", "oidcc-ensure-registered-redirect-uri", "Unregistered redirect_uri shows an error page")
def test_it_never_redirects_to_an_unregistered_redirect_uri(client, confidential_client):
    _signed_in(client)
    auth = authorize_url(confidential_client, redirect_uri="https://evil.example.net/callback")
    response = client.get(auth.url)
    assert response.status_code == 400
    assert "Location" not in response
    main = response.content.decode().split("<footer>")[0]  # the footer's language switcher echoes the path
    assert "evil.example.net" not in main
    assert b"cannot be completed" in response.content


@pytest.mark.spec("RFC 6749", "3.1.2", "Redirect URI compared exactly, not by prefix")
@pytest.mark.spec("RFC 9700", "4.1", "Exact string matching of redirect URIs")
def test_it_refuses_a_redirect_uri_that_only_starts_like_the_registered_one(client, confidential_client):
    _signed_in(client)
    auth = authorize_url(confidential_client, redirect_uri=confidential_client.redirect_uri + "/../../evil")
    response = client.get(auth.url)
    assert response.status_code == 400 and "Location" not in response


@pytest.mark.spec("RFC 6749", "4.1.2.1", "Unknown client_id: inform the user, never redirect")
def test_it_refuses_an_unknown_client_without_redirecting(client, confidential_client):
    _signed_in(client)
    auth = authorize_url(confidential_client, client_id="nope")
    response = client.get(auth.url)
    assert response.status_code == 400 and "Location" not in response


@pytest.mark.spec("RFC 9700", "2.1.1", "PKCE required for the authorization code grant")
@pytest.mark.spec("RFC 7636", "4.4.1", "Missing code_challenge → invalid_request")
@pytest.mark.spec("RFC 9207", "2", "iss on error responses too")
def test_it_gives_no_code_without_pkce(client, confidential_client):
    _signed_in(client)
    auth = authorize_url(confidential_client, code_challenge=None, code_challenge_method=None)
    response = client.get(auth.url)
    assert response.status_code == 302
    params = query_of(response["Location"])
    assert params["error"] == "invalid_request" and "code" not in params
    assert params["iss"] == "http://testserver"


@pytest.mark.spec("RFC 9700", "2.1.1", "PKCE S256 required; plain refused")
@pytest.mark.spec("RFC 7636", "4.2", "Only the S256 code_challenge_method")
def test_it_gives_no_code_for_plain_pkce(client, confidential_client):
    _signed_in(client)
    auth = authorize_url(confidential_client, code_challenge_method="plain", code_challenge="a" * 50)
    response = client.get(auth.url)
    if response.status_code == 200:  # DOT refuses `plain` only once Allow is pressed (GOTCHAS.md)
        response = client.post(auth.url, consent_form(response, allow=True))
    params = query_of(response["Location"])
    assert "code" not in params
    assert params["error"] == "invalid_request"


@pytest.mark.spec("RFC 7636", "4.6", "Wrong code_verifier → invalid_grant")
@pytest.mark.spec("RFC 9700", "2.1.1", "PKCE binds the code to the client instance")
def test_it_rejects_a_wrong_pkce_verifier(client, confidential_client):
    _signed_in(client)
    auth, params = _code_for(client, confidential_client)
    response = exchange_code(client, confidential_client, params["code"], "x" * 60)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


@pytest.mark.spec("RFC 6749", "4.1.2", "Authorization code used at most once")
@pytest.mark.spec("RFC 6749", "10.5", "Code reuse refused with invalid_grant")
@pytest.mark.spec("OIDF", "oidcc-codereuse", "Second use of a code is refused")
def test_it_answers_invalid_grant_to_a_reused_code(client, confidential_client):
    _signed_in(client)
    auth, params = _code_for(client, confidential_client)
    assert exchange_code(client, confidential_client, params["code"], auth.verifier).status_code == 200
    again = exchange_code(client, confidential_client, params["code"], auth.verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


@pytest.mark.spec("RFC 6749", "5.2", "Failed client authentication → 401 invalid_client")
def test_it_answers_401_invalid_client_to_a_wrong_secret(client, confidential_client):
    _signed_in(client)
    auth, params = _code_for(client, confidential_client)
    basic = base64.b64encode(f"{confidential_client.client_id}:wrong".encode()).decode()
    response = client.post(
        "/o/token/",
        {"grant_type": "authorization_code", "code": params["code"], "redirect_uri": confidential_client.redirect_uri,
         "code_verifier": auth.verifier},
        HTTP_AUTHORIZATION=f"Basic {basic}",
    )  # fmt: skip
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


@pytest.mark.spec("OIDC Core", "3.1.2.1", "prompt=none without a session → login_required")
@pytest.mark.spec("RFC 6749", "4.1.2", "state echoed on errors")
@pytest.mark.spec("OIDF", "oidcc-prompt-none-not-logged-in", "prompt=none when not signed in → login_required")
def test_it_answers_login_required_to_prompt_none_without_a_session(client, confidential_client):
    auth = authorize_url(confidential_client, prompt="none")
    response = client.get(auth.url)
    assert response.status_code == 302
    params = query_of(response["Location"])
    assert response["Location"].startswith(confidential_client.redirect_uri)
    assert params["error"] == "login_required" and params["state"] == auth.state


@pytest.mark.spec("OIDC Core", "3.1.2.1", "prompt=none needing consent → consent_required")
def test_it_answers_consent_required_to_prompt_none_when_consent_is_needed(client, confidential_client):
    _signed_in(client)
    response = client.get(authorize_url(confidential_client, prompt="none").url)
    params = query_of(response["Location"])
    assert params["error"] == "consent_required" and "code" not in params


@pytest.mark.spec("OIDC Core", "3.1.2.1", "prompt=none with a session and no consent needed issues a code")
@pytest.mark.spec("OIDF", "oidcc-prompt-none-logged-in", "prompt=none when signed in issues a code silently")
def test_it_issues_a_code_silently_to_a_trusted_client_with_prompt_none(client, trusted_client):
    _signed_in(client)
    response = client.get(authorize_url(trusted_client, prompt="none").url)
    assert response.status_code == 302
    assert "code" in query_of(response["Location"])


def test_it_skips_the_consent_page_for_trusted_clients(client, trusted_client):
    _signed_in(client)
    response = client.get(authorize_url(trusted_client).url)
    assert response.status_code == 302
    assert response["Location"].startswith(trusted_client.redirect_uri)
    assert "code" in query_of(response["Location"])


@pytest.mark.spec("RFC 6749", "4.1.2.1", "Denial → access_denied to the client")
@pytest.mark.spec("RFC 9207", "2", "iss on the access_denied response")
def test_it_redirects_access_denied_with_iss_when_the_user_denies(client, confidential_client):
    _signed_in(client)
    auth = authorize_url(confidential_client)
    page = client.get(auth.url)
    response = client.post(auth.url, consent_form(page, allow=False))  # the Deny button
    params = query_of(response["Location"])
    assert params["error"] == "access_denied" and params["iss"] == "http://testserver"
    assert params["state"] == auth.state


@pytest.mark.spec("RFC 6749", "3.3", "Scope beyond the client's → invalid_scope")
def test_it_refuses_scopes_the_client_was_not_registered_for(client, confidential_client):
    _signed_in(client)
    response = client.get(authorize_url(confidential_client, scope="openid gatehouse:admin").url)
    params = query_of(response["Location"])
    assert params["error"] == "invalid_scope" and "code" not in params


@pytest.mark.spec("RFC 9700", "2.1.2", "Implicit grant not offered")
def test_it_refuses_the_implicit_grant(client, confidential_client):
    _signed_in(client)
    response = client.get(authorize_url(confidential_client, response_type="token").url)
    assert "access_token" not in response.get("Location", "")
    if response.status_code == 302:
        assert query_of(response["Location"])["error"] in ("unsupported_response_type", "unauthorized_client")
    else:
        assert response.status_code == 400


@pytest.mark.spec("RFC 9700", "2.4", "Resource owner password credentials grant not offered")
def test_it_refuses_the_password_grant(client, confidential_client, alice):
    alice.set_password("correct horse battery staple")
    alice.save()
    response = client.post(
        "/o/token/",
        {"grant_type": "password", "username": alice.username, "password": "correct horse battery staple",
         "client_id": confidential_client.client_id, "client_secret": confidential_client.client_secret},
    )  # fmt: skip
    assert response.status_code in (400, 401)
    assert response.json()["error"] in ("unsupported_grant_type", "unauthorized_client")


@pytest.mark.spec("RFC 9700", "4.16", "Clickjacking: authorization pages not framable")
@pytest.mark.spec("RFC 6749", "10.13", "Clickjacking defence")
@pytest.mark.parametrize("path", ["/o/authorize/", "/login/"])
def test_it_forbids_framing_of_login_and_consent_pages(client, path):
    response = client.get(path)
    assert response["X-Frame-Options"] == "DENY"
