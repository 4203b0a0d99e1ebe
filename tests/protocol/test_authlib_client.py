"""An independent relying party (Authlib + joserfc) signs in over real HTTP: OIDC Core §3.1, RFC 7636, RFC 9207."""

from __future__ import annotations

import base64
import hashlib
from html.parser import HTMLParser
from urllib.parse import urljoin

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.jwk import KeySet

from clients.services import client_register
from tests.conftest import query_of

REDIRECT_URI = "http://127.0.0.1:8765/callback"  # RFC 8252 §7.3 loopback; nothing listens there


class _FormFields(HTMLParser):
    """The named inputs of the first form with method=post on a page."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self._in_form = False
        self._done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        if tag == "form" and not self._done and attributes.get("method", "").lower() == "post":
            self._in_form = True
        elif tag == "input" and self._in_form and attributes.get("name"):
            self.fields[attributes["name"]] = attributes.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self._in_form:
            self._in_form, self._done = False, True


def form_fields(html: str) -> dict[str, str]:
    parser = _FormFields()
    parser.feed(html)
    return parser.fields


@pytest.fixture
def browser():
    with requests.Session() as session:
        yield session


def _sign_in_and_allow(browser: requests.Session, authorization_url: str, base: str) -> str:
    """The user's part: sign in through the development upstream and press Allow. Returns the redirect."""
    login = browser.get(authorization_url)
    assert login.status_code == 200 and "/login/" in login.url, login.url
    fields = form_fields(login.text)
    assert fields["csrfmiddlewaretoken"] and fields["next"].startswith("/o/authorize/?")
    assert browser.cookies.get("csrftoken")

    dev_page = browser.post(urljoin(base, "/login/dev/"), data=fields)
    assert dev_page.status_code == 200 and "/federation/dev/" in dev_page.url, dev_page.url
    state = query_of(dev_page.url)["state"]
    assert form_fields(dev_page.text)["state"] == state

    consent = browser.post(
        urljoin(base, "/complete/dev/"),
        data={"state": state, "email": "carol@example.com", "name": "Carol Park", "email_verified": "1"},
    )
    assert consent.status_code == 200 and "/o/authorize/" in consent.url, consent.url
    assert "Authlib RP" in consent.text
    approval = form_fields(consent.text)
    assert approval["csrfmiddlewaretoken"] and approval["redirect_uri"] == REDIRECT_URI
    approval["allow"] = "1"

    answer = browser.post(consent.url, data=approval, allow_redirects=False)
    assert answer.status_code == 302, answer.text
    return answer.headers["Location"]


@pytest.mark.django_db(transaction=True)
def test_it_lets_an_independent_client_sign_in_with_pkce_and_verify_the_id_token(gatehouse_url, browser):
    issuer = gatehouse_url
    registered = client_register(name="Authlib RP", redirect_uris=[REDIRECT_URI])
    client_id = registered.application.client_id
    rp = OAuth2Session(
        client_id,
        registered.client_secret,
        scope="openid profile email",
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
    )
    with rp:
        discovery = rp.get(f"{issuer}/.well-known/openid-configuration", withhold_token=True)
        assert discovery.status_code == 200
        metadata = discovery.json()
        assert metadata["issuer"] == issuer
        assert metadata["authorization_endpoint"].startswith(issuer)
        assert "S256" in metadata["code_challenge_methods_supported"]

        verifier, nonce = generate_token(48), generate_token(16)
        authorization_url, state = rp.create_authorization_url(
            metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce
        )
        request_params = query_of(authorization_url)
        expected_challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
        assert request_params["code_challenge"] == expected_challenge.decode()
        assert request_params["code_challenge_method"] == "S256"

        location = _sign_in_and_allow(browser, authorization_url, issuer)
        assert location.startswith(REDIRECT_URI + "?")
        response = query_of(location)
        assert response["state"] == state
        assert response["iss"] == issuer  # RFC 9207 §2

        token = rp.fetch_token(
            metadata["token_endpoint"], authorization_response=location, state=state, code_verifier=verifier
        )
        assert token["token_type"].lower() == "bearer" and token["access_token"] and token["id_token"]

        jwks = KeySet.import_key_set(rp.get(metadata["jwks_uri"], withhold_token=True).json())
        id_token = jwt.decode(token["id_token"], jwks, algorithms=["RS256"])
        assert id_token.header["kid"] in {key.kid for key in jwks.keys}
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": client_id},
            nonce={"essential": True, "value": nonce},
            exp={"essential": True},
            iat={"essential": True},
            sub={"essential": True},
        ).validate(id_token.claims)
        assert id_token.claims["email"] == "carol@example.com"
        assert id_token.claims["email_verified"] is True

        userinfo = rp.get(metadata["userinfo_endpoint"])
        assert userinfo.status_code == 200, userinfo.text
        profile = userinfo.json()
        assert profile["sub"] == id_token.claims["sub"]
        assert profile["email"] == "carol@example.com" and profile["name"] == "Carol Park"


@pytest.mark.django_db(transaction=True)
def test_it_refuses_to_exchange_the_code_without_the_pkce_verifier(gatehouse_url, browser):
    issuer = gatehouse_url
    registered = client_register(name="Authlib RP", redirect_uris=[REDIRECT_URI])
    rp = OAuth2Session(
        registered.application.client_id,
        registered.client_secret,
        scope="openid",
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",
    )
    with rp:
        metadata = rp.get(f"{issuer}/.well-known/openid-configuration", withhold_token=True).json()
        authorization_url, state = rp.create_authorization_url(
            metadata["authorization_endpoint"], code_verifier=generate_token(48), nonce=generate_token(16)
        )
        location = _sign_in_and_allow(browser, authorization_url, issuer)
        refused = rp.post(
            metadata["token_endpoint"],
            data={
                "grant_type": "authorization_code",
                "code": query_of(location)["code"],
                "redirect_uri": REDIRECT_URI,
                "code_verifier": generate_token(48),  # not the one the challenge was made from
            },
            auth=(registered.application.client_id, registered.client_secret),
        )
        assert refused.status_code == 400
        assert refused.json()["error"] == "invalid_grant"
