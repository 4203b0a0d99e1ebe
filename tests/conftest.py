"""The cast: people (alice, bob, attacker mallory) and clients, plus helpers to walk an authorization."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.test import Client
from jwcrypto import jwk, jwt

from clients.services import client_register
from idp import keys
from idp.models import User
from idp.services import user_create

REDIRECT_URI = "https://app.example.com/callback"


def pytest_terminal_summary(terminalreporter):
    """Lines a test recorded with `record_property("summary", ...)` (the fuzz test's tally), shown without -s."""
    lines = [value for report in terminalreporter.getreports("passed") + terminalreporter.getreports("failed")
             if report.when == "call" for name, value in report.user_properties if name == "summary"]
    if lines:
        terminalreporter.section("summaries")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture(autouse=True)
def _fresh_keyset():
    """Each test sees the keys of its own database, not a keyset cached by an earlier test."""
    keys.invalidate()
    keys._parsed.clear()
    yield
    keys.invalidate()


@pytest.fixture
def alice(db) -> User:
    return user_create(email="alice@example.com", email_verified=True, name="Alice Kim", nickname="alice")


@pytest.fixture
def bob(db) -> User:
    return user_create(email="bob@example.com", email_verified=True, name="Bob Lee", nickname="bob")


@pytest.fixture
def mallory(db) -> User:
    return user_create(email="mallory@example.net", email_verified=True, name="Mallory", nickname="mallory")


@dataclass
class TestClientApp:
    client_id: str
    client_secret: str
    redirect_uri: str
    application: object


def _register(**kwargs) -> TestClientApp:
    registered = client_register(**kwargs)
    uris = kwargs.get("redirect_uris") or [""]
    return TestClientApp(
        registered.application.client_id, registered.client_secret, uris[0], registered.application
    )


@pytest.fixture
def confidential_client(db) -> TestClientApp:
    return _register(name="Wiki", redirect_uris=[REDIRECT_URI], logo_url="https://app.example.com/logo.png")


@pytest.fixture
def public_client(db) -> TestClientApp:
    return _register(name="Mobile app", redirect_uris=["http://127.0.0.1:7000/cb"], public=True)


@pytest.fixture
def trusted_client(db) -> TestClientApp:
    return _register(name="Intranet", redirect_uris=["https://intranet.example.com/cb"], trusted=True)


@pytest.fixture
def service_client(db) -> TestClientApp:
    return _register(name="Admin bot", redirect_uris=[], grant="client-credentials", scopes=["gatehouse:admin"])


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def statements_sent(context) -> list[str]:
    """The SQL a CaptureQueriesContext saw, without the savepoints that stand in for BEGIN/COMMIT in tests
    (every test runs inside a transaction, so a view's outermost transaction shows up as a savepoint)."""
    return [q["sql"] for q in context.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


@dataclass
class Authorization:
    url: str
    verifier: str
    state: str
    nonce: str


def authorize_url(app: TestClientApp, scope: str = "openid profile email", **extra) -> Authorization:
    verifier, challenge = pkce_pair()
    state, nonce = secrets.token_urlsafe(8), secrets.token_urlsafe(8)
    params = {
        "response_type": "code",
        "client_id": app.client_id,
        "redirect_uri": app.redirect_uri,
        "scope": scope,
        "state": state,
        "nonce": nonce,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    params.update(extra)
    params = {k: v for k, v in params.items() if v is not None}
    return Authorization(f"/o/authorize/?{urlencode(params)}", verifier, state, nonce)


def dev_sign_in(client: Client, email: str, name: str = "", verified: bool = True, next_url: str = "") -> object:
    """Sign in through the development upstream, the way a browser does, following redirects to the end."""
    begin = client.post("/login/dev/", {"next": next_url} if next_url else {})
    assert begin.status_code == 302, begin
    state = query_of(begin["Location"])["state"]
    data = {"state": state, "email": email, "name": name}
    if verified:
        data["email_verified"] = "1"
    return client.post("/complete/dev/", data)


def consent_form(page, *, allow: bool) -> dict[str, str]:
    """What the consent page's form posts: its fields and CSRF token, with Allow or Deny pressed.

    The token matters even though the test client does not check it: a POST to /o/authorize/ without one
    is an authorization request sent by POST, not a consent (clients.views.authorize).
    """
    form = page.context["form"]
    data = {n: form[n].value() for n in form.fields if form[n].value() not in (None, "") and n != "allow"}
    data["csrfmiddlewaretoken"] = str(page.context["csrf_token"])
    if allow:
        data["allow"] = "1"
    return data


def approve_consent(client: Client, consent_url: str) -> str:
    """Press Allow on the consent page (if it is shown: consent may be remembered); returns the redirect."""
    page = client.get(consent_url)
    if page.status_code == 302 and "code=" in page["Location"]:
        return page["Location"]
    assert page.status_code == 200, page
    response = client.post(consent_url, consent_form(page, allow=True))
    assert response.status_code == 302, response
    return response["Location"]


def exchange_code(client: Client, app: TestClientApp, code: str, verifier: str, **extra):
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": app.redirect_uri,
        "code_verifier": verifier,
        "client_id": app.client_id,
    }
    if app.client_secret:
        data["client_secret"] = app.client_secret
    data.update(extra)
    return client.post("/o/token/", data)


def verify_id_token(client: Client, token: str, *, audience: str, nonce: str | None = None) -> dict:
    """Verify an ID token the way a relying party does: against the published JWKS."""
    jwks = jwk.JWKSet.from_json(client.get("/o/.well-known/jwks.json").content.decode())
    issuer = client.get("/.well-known/openid-configuration").json()["issuer"]
    check = {"iss": issuer, "aud": audience, "exp": None}
    if nonce is not None:
        check["nonce"] = nonce
    verified = jwt.JWT(jwt=token, key=jwks, check_claims=check, algs=["RS256"])
    return json.loads(verified.claims)


@pytest.fixture
def gatehouse_url(live_server, settings) -> str:
    """Gatehouse's public URL (and so its issuer) is the live server's."""
    # pytest-django turns DEBUG off; the development upstream and the demo client exist only with DEBUG on.
    settings.DEBUG = True
    settings.GATEHOUSE_URL = live_server.url
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "OIDC_ISS_ENDPOINT": live_server.url}
    settings.CSRF_TRUSTED_ORIGINS = [live_server.url]
    return live_server.url
