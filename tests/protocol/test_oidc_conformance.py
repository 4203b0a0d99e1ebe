"""The OpenID Basic and Config OP conformance modules the other protocol tests do not already prove.

Each test is tagged with the module it stands in for (`oidcc-*`, www.certification.openid.net) and the
OpenID Connect Core 1.0 section behind it. Modules Gatehouse does not support are listed, with the reason,
in tests/compliance_plugin.py (NOT_SUPPORTED) and so in docs/compliance.md.
"""

from __future__ import annotations

import base64
import json
import time
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.utils import timezone

from idp.models import User

from tests.conftest import (
    approve_consent,
    authorize_url,
    consent_form,
    dev_sign_in,
    exchange_code,
    query_of,
    verify_id_token,
)

pytestmark = pytest.mark.django_db


def _sign_in(client, email="carol@example.com"):
    dev_sign_in(client, email, "Carol Park")


def _sign_in_happened_seconds_ago(seconds: int, email: str = "carol@example.com") -> None:
    """Move the sign-in into the past, rather than sleeping the test until it is."""
    User.objects.filter(email=email).update(last_login=timezone.now() - timedelta(seconds=seconds))


def _tokens(client, app, **extra) -> tuple[dict, object]:
    auth = authorize_url(app, **extra)
    params = query_of(approve_consent(client, auth.url))
    response = exchange_code(client, app, params["code"], auth.verifier)
    assert response.status_code == 200, response.content
    return response.json(), auth


def _unsigned_jwt(claims: dict) -> str:
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none'})}.{part(claims)}."


@pytest.mark.spec("OIDF", "oidcc-ensure-request-with-unknown-parameter-succeeds", "Unknown authorization parameters are ignored")
@pytest.mark.spec("OIDC Core", "3.1.2.1", "Parameters not understood are ignored")
def test_it_ignores_an_unknown_authorization_parameter(client, confidential_client):
    _sign_in(client)
    body, auth = _tokens(client, confidential_client, extra_parameter="bobcat")
    verify_id_token(client, body["id_token"], audience=confidential_client.client_id, nonce=auth.nonce)


@pytest.mark.spec("OIDF", "oidcc-ensure-request-without-nonce-succeeds-for-code-flow", "nonce is optional in the code flow")
@pytest.mark.spec("OIDC Core", "3.1.2.1", "nonce optional for response_type=code")
def test_it_issues_an_id_token_without_nonce_when_the_code_flow_request_had_none(client, confidential_client):
    _sign_in(client)
    body, _auth = _tokens(client, confidential_client, nonce=None)
    claims = verify_id_token(client, body["id_token"], audience=confidential_client.client_id)
    assert "nonce" not in claims


@pytest.mark.spec("OIDF", "oidcc-nonce-invalid", "The ID token carries the request's nonce unchanged")
@pytest.mark.spec("OIDC Core", "3.1.3.7", "nonce in the ID token equals the request's nonce")
def test_it_returns_the_requests_nonce_unchanged_in_the_id_token(client, confidential_client):
    _sign_in(client)
    body, _auth = _tokens(client, confidential_client, nonce="n-0S6_WzA2Mj")
    claims = verify_id_token(client, body["id_token"], audience=confidential_client.client_id, nonce="n-0S6_WzA2Mj")
    assert claims["nonce"] == "n-0S6_WzA2Mj"


@pytest.mark.spec("OIDF", "oidcc-ensure-other-scope-order-succeeds", "Scope order does not matter")
@pytest.mark.spec("RFC 6749", "3.3", "scope is an unordered list")
def test_it_accepts_the_scopes_in_any_order(client, confidential_client):
    _sign_in(client)
    body, _auth = _tokens(client, confidential_client, scope="email openid")
    claims = verify_id_token(client, body["id_token"], audience=confidential_client.client_id)
    assert claims["email"] == "carol@example.com"


@pytest.mark.spec("OIDF", "oidcc-scope-email", "scope=email releases email and email_verified")
@pytest.mark.spec("OIDC Core", "5.4", "email scope claims")
def test_it_releases_only_the_email_claims_for_scope_email(client, confidential_client):
    _sign_in(client)
    body, _auth = _tokens(client, confidential_client, scope="openid email")
    info = client.get("/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {body['access_token']}").json()
    assert info["email"] == "carol@example.com" and info["email_verified"] is True
    assert "name" not in info


@pytest.mark.spec("OIDF", "oidcc-scope-profile", "scope=profile releases the profile claims")
@pytest.mark.spec("OIDC Core", "5.4", "profile scope claims")
def test_it_releases_only_the_profile_claims_for_scope_profile(client, confidential_client):
    _sign_in(client)
    body, _auth = _tokens(client, confidential_client, scope="openid profile")
    info = client.get("/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {body['access_token']}").json()
    assert info["name"] == "Carol Park" and info["preferred_username"]
    assert "email" not in info


@pytest.mark.spec("OIDF", "oidcc-scope-all", "Every supported scope at once")
@pytest.mark.spec("OIDC Core", "5.4", "profile and email claims together")
def test_it_releases_profile_and_email_claims_for_all_scopes(client, confidential_client):
    _sign_in(client)
    body, _auth = _tokens(client, confidential_client, scope="openid profile email")
    info = client.get("/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {body['access_token']}").json()
    assert {"sub", "name", "email", "email_verified"} <= set(info)


@pytest.mark.spec("OIDF", "oidcc-userinfo-post-header", "UserInfo by POST with the token in the header")
@pytest.mark.spec("OIDC Core", "5.3.1", "UserInfo supports POST")
def test_it_serves_userinfo_by_post_with_a_bearer_header(client, confidential_client):
    _sign_in(client)
    body, _auth = _tokens(client, confidential_client)
    info = client.post("/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {body['access_token']}")
    assert info.status_code == 200 and info.json()["email"] == "carol@example.com"


@pytest.mark.spec("OIDF", "oidcc-userinfo-post-body", "UserInfo by POST with the token in the form body")
@pytest.mark.spec("RFC 6750", "2.2", "Form-encoded body parameter")
def test_it_serves_userinfo_by_post_with_the_token_in_the_body(client, confidential_client):
    _sign_in(client)
    body, _auth = _tokens(client, confidential_client)
    info = client.post("/o/userinfo/", {"access_token": body["access_token"]})
    assert info.status_code == 200 and info.json()["email"] == "carol@example.com"


@pytest.mark.spec("OIDF", "oidcc-prompt-login", "prompt=login shows the login page again")
@pytest.mark.spec("OIDC Core", "3.1.2.1", "prompt=login re-authenticates")
def test_it_sends_a_signed_in_person_back_to_the_login_page_for_prompt_login(client, confidential_client):
    _sign_in(client)
    auth = authorize_url(confidential_client, prompt="login")
    response = client.get(auth.url)
    assert response.status_code == 302 and response["Location"].startswith("/login/?next=")
    assert "prompt" not in query_of(query_of(response["Location"])["next"])  # no loop after signing in
    page = client.get(response["Location"])
    assert page.status_code == 200 and b"Sign in to continue to Wiki" in page.content


@pytest.mark.spec("OIDF", "oidcc-max-age-1", "max_age=1 after more than a second re-authenticates")
@pytest.mark.spec("OIDC Core", "3.1.2.1", "max_age: re-authenticate when the last sign-in is older")
def test_it_sends_the_person_back_to_the_login_page_when_max_age_has_passed(client, confidential_client):
    _sign_in(client)
    _sign_in_happened_seconds_ago(2)
    response = client.get(authorize_url(confidential_client, max_age="1").url)
    assert response.status_code == 302 and response["Location"].startswith("/login/?next=")


@pytest.mark.spec("OIDC Core", "3.1.2.1", "prompt=none with an expired max_age answers login_required")
def test_it_answers_login_required_to_prompt_none_when_max_age_has_passed(client, trusted_client):
    _sign_in(client)
    _sign_in_happened_seconds_ago(2)
    response = client.get(authorize_url(trusted_client, max_age="1", prompt="none").url)
    assert response.status_code == 302 and response["Location"].startswith(trusted_client.redirect_uri)
    params = query_of(response["Location"])
    assert params["error"] == "login_required" and "code" not in params


@pytest.mark.spec("OIDF", "oidcc-max-age-10000", "max_age=10000 reuses the session and returns auth_time")
@pytest.mark.spec("OIDC Core", "2", "auth_time present when max_age was requested")
def test_it_reuses_a_recent_sign_in_for_a_large_max_age_and_returns_auth_time(client, confidential_client):
    _sign_in(client)
    body, _auth = _tokens(client, confidential_client, max_age="10000")
    claims = verify_id_token(client, body["id_token"], audience=confidential_client.client_id)
    assert abs(claims["auth_time"] - time.time()) < 60


@pytest.mark.spec("OIDF", "oidcc-id-token-hint", "prompt=none with id_token_hint of the signed-in person")
@pytest.mark.spec("OIDC Core", "3.1.2.1", "id_token_hint names the signed-in person")
def test_it_issues_a_code_silently_for_an_id_token_hint_of_the_signed_in_person(client, trusted_client):
    _sign_in(client)
    body, _auth = _tokens(client, trusted_client)
    auth = authorize_url(trusted_client, prompt="none", id_token_hint=body["id_token"])
    response = client.get(auth.url)
    assert response.status_code == 302
    assert "code" in query_of(response["Location"]), response["Location"]


@pytest.mark.spec("OIDF", "oidcc-login-hint", "login_hint is accepted")
@pytest.mark.spec("OIDF", "oidcc-ui-locales", "ui_locales is accepted")
@pytest.mark.spec("OIDF", "oidcc-display-page", "display=page is accepted")
@pytest.mark.spec("OIDF", "oidcc-display-popup", "display=popup is accepted")
@pytest.mark.spec("OIDF", "oidcc-claims-locales", "claims_locales is accepted")
@pytest.mark.spec("OIDF", "oidcc-ensure-request-with-acr-values-succeeds", "acr_values is accepted")
@pytest.mark.spec("OIDC Core", "3.1.2.1", "Optional parameters login_hint, ui_locales, display, claims_locales, acr_values")
@pytest.mark.parametrize(
    "extra",
    [{"login_hint": "carol@example.com"}, {"ui_locales": "ko en"}, {"display": "page"}, {"display": "popup"},
     {"claims_locales": "ko en"}, {"acr_values": "1 2"}],
)
def test_it_completes_the_flow_with_optional_display_parameters(client, confidential_client, extra):
    _sign_in(client)
    body, _auth = _tokens(client, confidential_client, **extra)
    assert verify_id_token(client, body["id_token"], audience=confidential_client.client_id)["sub"]


@pytest.mark.spec("OIDF", "oidcc-claims-essential", "A claims request parameter does not break the flow")
@pytest.mark.spec("OIDC Core", "5.5", "claims parameter (claims_parameter_supported=false: ignored)")
def test_it_ignores_a_claims_parameter_it_does_not_support(client, confidential_client):
    _sign_in(client)
    claims = json.dumps({"userinfo": {"name": {"essential": True}}})
    body, _auth = _tokens(client, confidential_client, scope="openid", claims=claims)
    assert client.get("/.well-known/openid-configuration").json()["claims_parameter_supported"] is False
    assert verify_id_token(client, body["id_token"], audience=confidential_client.client_id)["sub"]


@pytest.mark.spec("OIDF", "oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported",
                  "An unsigned request object is not acted on")
@pytest.mark.spec("OIDC Core", "6.1", "request parameter: request_parameter_supported=false")
def test_it_does_not_act_on_an_unsigned_request_object(client, confidential_client):
    _sign_in(client)
    metadata = client.get("/.well-known/openid-configuration").json()
    assert not metadata.get("request_parameter_supported", False)
    request_object = _unsigned_jwt({"redirect_uri": "https://evil.example.net/callback", "scope": "openid"})
    response = client.get(authorize_url(confidential_client, request=request_object).url)
    assert "evil.example.net" not in response.get("Location", "")
    assert response.status_code in (200, 302, 400)


@pytest.mark.spec("OIDF", "oidcc-ensure-redirect-uri-in-authorization-request", "redirect_uri is required")
@pytest.mark.spec("OIDC Core", "3.1.2.1", "redirect_uri REQUIRED")
def test_it_refuses_an_authorization_request_without_redirect_uri(client, confidential_client):
    _sign_in(client)
    response = client.get(authorize_url(confidential_client, redirect_uri=None).url)
    assert response.status_code == 400 and "Location" not in response
    assert b"cannot be completed" in response.content


@pytest.mark.spec("OIDF", "oidcc-response-type-missing", "A request without response_type is refused")
@pytest.mark.spec("RFC 6749", "4.1.2.1", "Missing response_type → invalid_request to the redirect URI")
def test_it_refuses_an_authorization_request_without_response_type(client, confidential_client):
    _sign_in(client)
    response = client.get(authorize_url(confidential_client, response_type=None).url)
    if response.status_code == 302:
        params = query_of(response["Location"])
        assert response["Location"].startswith(confidential_client.redirect_uri)
        assert params["error"] in ("invalid_request", "unsupported_response_type") and "code" not in params
    else:
        assert response.status_code == 400 and "Location" not in response


@pytest.mark.spec("OIDF", "oidcc-discovery-endpoint-verification", "Discovery document is complete and consistent")
@pytest.mark.spec("OIDC Discovery", "3", "Required provider metadata")
def test_it_publishes_every_required_discovery_field(client):
    data = client.get("/.well-known/openid-configuration").json()
    for field in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri", "response_types_supported",
                  "subject_types_supported", "id_token_signing_alg_values_supported"):  # fmt: skip
        assert data.get(field), field
    assert "openid" in data["scopes_supported"]
    assert urlsplit(data["jwks_uri"]).scheme in ("http", "https")
    assert data["issuer"] == "http://testserver"


@pytest.mark.spec("OIDF", "oidcc-discovery-issuer-not-matching-config", "issuer equals the discovery URL's prefix")
@pytest.mark.spec("OIDC Discovery", "4.3", "issuer identical to the URL prefix of the discovery document")
def test_it_serves_discovery_under_the_issuer_it_names(client):
    issuer = client.get("/.well-known/openid-configuration").json()["issuer"]
    assert client.get(urlsplit(issuer + "/.well-known/openid-configuration").path).status_code == 200


@pytest.mark.spec("OIDF", "oidcc-userinfo-get", "UserInfo by GET with a bearer header")
@pytest.mark.spec("OIDF", "oidcc-server", "The basic code flow: code, ID token, UserInfo")
@pytest.mark.spec("OIDC Core", "3.1.3.7", "ID token validation by the relying party")
def test_it_passes_the_basic_code_flow_checks_of_a_relying_party(client, confidential_client):
    _sign_in(client)
    body, auth = _tokens(client, confidential_client)
    claims = verify_id_token(client, body["id_token"], audience=confidential_client.client_id, nonce=auth.nonce)
    assert claims["iat"] <= time.time() + 5 and claims["exp"] > time.time()
    assert "azp" not in claims or claims["azp"] == confidential_client.client_id
    info = client.get("/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {body['access_token']}").json()
    assert info["sub"] == claims["sub"]  # OIDC Core §5.3.2: UserInfo sub equals the ID token's


# --- authorization requests sent by POST -------------------------------------------------------------

def _strict_browser() -> Client:
    """A signed-in browser whose requests are CSRF-checked, as in production (the test client skips it)."""
    signing_in = Client()
    dev_sign_in(signing_in, "erin@example.com", "Erin")
    browser = Client(enforce_csrf_checks=True)
    browser.cookies = signing_in.cookies
    return browser


def _post_authorization(browser, auth) -> object:
    """The client app's form POSTing the authorization request's parameters to the endpoint."""
    path, _, query = auth.url.partition("?")
    return browser.post(path, {k: v[0] for k, v in parse_qs(query).items()}, HTTP_ORIGIN="https://app.example.com")


@pytest.mark.spec("OIDF", "oidcc-ensure-post-request-succeeds", "An authorization request sent by POST succeeds")
@pytest.mark.spec("OIDC Core", "3.1.2.1", "The authorization endpoint supports GET and POST")
def test_it_takes_an_authorization_request_by_post(trusted_client):
    browser = _strict_browser()  # a cross-site form carries no CSRF token
    auth = authorize_url(trusted_client)

    posted = _post_authorization(browser, auth)

    assert posted.status_code == 303
    assert parse_qs(urlsplit(posted["Location"]).query) == parse_qs(urlsplit(auth.url).query)
    answer = browser.get(posted["Location"])  # the browser follows the 303 with a GET
    params = query_of(answer["Location"])
    assert params["state"] == auth.state and params["iss"] == "http://testserver"
    tokens = exchange_code(browser, trusted_client, params["code"], auth.verifier).json()
    assert verify_id_token(browser, tokens["id_token"], audience=trusted_client.client_id, nonce=auth.nonce)["sub"]


def test_a_cross_site_post_with_allow_does_not_grant_consent(confidential_client):
    browser = _strict_browser()
    auth = authorize_url(confidential_client, allow="1")  # a hostile page adding the Allow button's field

    posted = _post_authorization(browser, auth)
    page = browser.get(posted["Location"])

    assert page.status_code == 200 and b'name="allow"' in page.content  # the consent page, asking
    assert "code=" not in page.get("Location", "")


def test_a_consent_with_a_forged_csrf_token_is_refused(confidential_client):
    browser = _strict_browser()
    auth = authorize_url(confidential_client)
    data = {**consent_form(browser.get(auth.url), allow=True), "csrfmiddlewaretoken": "forged" * 8}

    refused = browser.post(auth.url, data)

    assert refused.status_code == 403
