"""Stand-ins for the upstream providers: their HTTP answers (mocked with `responses`) and a browser walk.

Everything on Gatehouse's side is real (test client, database, django-oauth-toolkit, the social-auth
pipeline); only the calls Gatehouse makes to Google, Kakao, Facebook and the OIDC upstream are mocked,
in the shapes each provider documents.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import responses
from django.test import Client
from jwcrypto import jwk, jwt
from social_core.backends.open_id_connect import OpenIdConnectAuth

from tests.conftest import Authorization, TestClientApp, approve_consent, authorize_url, exchange_code, query_of

GOOGLE_TOKEN_URL = "https://accounts.google.com/o/oauth2/token"
GOOGLE_USERINFO_URL = "https://www.googleapis.com/oauth2/v3/userinfo"
GOOGLE_JWKS_URL = "https://www.googleapis.com/oauth2/v3/certs"
GOOGLE_TOKENINFO_URL = "https://oauth2.googleapis.com/tokeninfo"
GOOGLE_CLIENT_ID = "google-client-id"
KAKAO_TOKEN_INFO_URL = "https://kapi.kakao.com/v1/user/access_token_info"
KAKAO_APP_ID = "1234567"
KAKAO_TOKEN_URL = "https://kauth.kakao.com/oauth/token"
KAKAO_PROFILE_URL = "https://kapi.kakao.com/v2/user/me"
FACEBOOK_VERSION = "v24.0"
FACEBOOK_TOKEN_URL = f"https://graph.facebook.com/{FACEBOOK_VERSION}/oauth/access_token"
FACEBOOK_ME_URL = f"https://graph.facebook.com/{FACEBOOK_VERSION}/me"
FACEBOOK_DEBUG_TOKEN_URL = f"https://graph.facebook.com/{FACEBOOK_VERSION}/debug_token"
FACEBOOK_APP_ID = "facebook-app-id"
OIDC_ISSUER = "https://sso.example.com"
OIDC_CLIENT_ID = "oidc-client-id"
OIDC_DISCOVERY_URL = f"{OIDC_ISSUER}/.well-known/openid-configuration"
OIDC_AUTHORIZE_URL = f"{OIDC_ISSUER}/oauth2/authorize"
OIDC_TOKEN_URL = f"{OIDC_ISSUER}/oauth2/token"
OIDC_USERINFO_URL = f"{OIDC_ISSUER}/oauth2/userinfo"
OIDC_JWKS_URL = f"{OIDC_ISSUER}/oauth2/jwks"

# One signing key for each fake OpenID Connect upstream, made once: RSA generation is the slow part.
_OIDC_KEY = jwk.JWK.generate(kty="RSA", size=2048, kid="sso-key-1", use="sig", alg="RS256")
_GOOGLE_KEY = jwk.JWK.generate(kty="RSA", size=2048, kid="google-key-1", use="sig", alg="RS256")

# The nonces of the upstream sign-ins begun in the current test, latest last: Google's fake token
# endpoint signs its ID token with the nonce of the sign-in in progress, as the real one does.
_begun_nonces: list[str] = []


@pytest.fixture
def upstream() -> Iterator[responses.RequestsMock]:
    """Mock the upstream providers' HTTP; any request nobody registered fails (no real network)."""
    # social-core caches discovery documents and JWKS per class for a day; each test brings its own.
    OpenIdConnectAuth.get_openid_configuration.invalidate()
    OpenIdConnectAuth.get_jwks_keys_for_uri.invalidate()
    _begun_nonces.clear()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock
    OpenIdConnectAuth.get_openid_configuration.invalidate()
    OpenIdConnectAuth.get_jwks_keys_for_uri.invalidate()


# ---------------------------------------------------------------------------------------------
# The browser's walk: client app -> /o/authorize/ -> /login/ -> upstream -> /complete/ -> consent
# ---------------------------------------------------------------------------------------------


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append({"action": attrs.get("action", ""), "method": attrs.get("method", "get"), "fields": {}})
        elif tag == "input" and self.forms and attrs.get("name"):
            self.forms[-1]["fields"][attrs["name"]] = attrs.get("value") or ""


def forms_on(client: Client, url: str) -> list[dict]:
    """Every form of a page: action, method and the fields a browser would submit."""
    page = client.get(url)
    assert page.status_code == 200, page
    parser = _FormParser()
    parser.feed(page.content.decode())
    return parser.forms


def login_form(client: Client, login_url: str, backend: str) -> dict[str, str]:
    """The fields of the login page's "Continue with <provider>" form, as a browser would submit them."""
    page = client.get(login_url)
    assert page.status_code == 200, page
    parser = _FormParser()
    parser.feed(page.content.decode())
    for form in parser.forms:
        if form["action"] == f"/login/{backend}/":
            assert form["method"].lower() == "post"
            return form["fields"]
    raise AssertionError(f"no sign-in form for {backend} on {login_url}")


@dataclass
class UpstreamRedirect:
    url: str
    params: dict[str, str]

    @property
    def endpoint(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}{parts.path}"


def begin(client: Client, backend: str, auth: Authorization) -> UpstreamRedirect:
    """From the client app's authorization request to the upstream's sign-in page (its Location)."""
    first = client.get(auth.url)
    assert first.status_code == 302, first
    login_url = first["Location"]
    assert urlsplit(login_url).path == "/login/"
    fields = login_form(client, login_url, backend)
    # `next` travels as a hidden form field of the POST, not in the query string.
    assert fields.get("next") == auth.url
    return start_upstream(client, backend, fields)


def start_upstream(client: Client, backend: str, fields: dict[str, str]) -> UpstreamRedirect:
    """Submit a "Continue with" (or "Connect") form: Gatehouse sends the browser to the upstream."""
    started = client.post(f"/login/{backend}/", fields)
    assert started.status_code == 302, started
    redirect = UpstreamRedirect(started["Location"], query_of(started["Location"]))
    if "nonce" in redirect.params:
        _begun_nonces.append(redirect.params["nonce"])
    return redirect


def callback(client: Client, backend: str, **params: str):
    """The upstream redirecting the browser back to Gatehouse."""
    return client.get(f"/complete/{backend}/", params)


def sign_in(client: Client, backend: str, auth: Authorization, code: str = "upstream-code") -> UpstreamRedirect:
    """Begin at the client app, return from the upstream, and land back at /o/authorize/."""
    redirect = begin(client, backend, auth)
    done = callback(client, backend, code=code, state=redirect.params["state"])
    assert done.status_code == 302, (done, done.content[:500])
    assert done["Location"] == auth.url, done["Location"]
    return redirect


@dataclass
class Tokens:
    access_token: str
    refresh_token: str
    id_token: str
    body: dict


def consent_and_exchange(client: Client, app: TestClientApp, auth: Authorization) -> Tokens:
    """Press Allow, check the authorization response, exchange the code with the PKCE verifier."""
    location = approve_consent(client, auth.url)
    assert location.startswith(app.redirect_uri + "?"), location
    params = query_of(location)
    assert params["state"] == auth.state
    assert params["iss"] == "http://testserver"
    token = exchange_code(client, app, params["code"], auth.verifier)
    assert token.status_code == 200, token.content
    body = token.json()
    return Tokens(body["access_token"], body["refresh_token"], body["id_token"], body)


def userinfo(client: Client, access_token: str):
    return client.get("/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {access_token}")


def basic_auth(app: TestClientApp) -> str:
    raw = f"{app.client_id}:{app.client_secret}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def introspect(client: Client, app: TestClientApp, token: str) -> dict:
    response = client.post("/o/introspect/", {"token": token}, HTTP_AUTHORIZATION=basic_auth(app))
    assert response.status_code == 200, response.content
    return response.json()


def refresh(client: Client, app: TestClientApp, refresh_token: str):
    return client.post(
        "/o/token/",
        {"grant_type": "refresh_token", "refresh_token": refresh_token},
        HTTP_AUTHORIZATION=basic_auth(app),
    )


def revoke(client: Client, app: TestClientApp, token: str, hint: str = "access_token"):
    return client.post(
        "/o/revoke_token/", {"token": token, "token_type_hint": hint}, HTTP_AUTHORIZATION=basic_auth(app)
    )


def form_of(call) -> dict[str, str]:
    """The urlencoded body of a recorded upstream request."""
    body = call.request.body or ""
    if isinstance(body, bytes):
        body = body.decode()
    return {k: v[0] for k, v in parse_qs(body).items()}


# ---------------------------------------------------------------------------------------------
# Each provider's documented answers
# ---------------------------------------------------------------------------------------------


def google_claims(*, sub: str, email: str, email_verified: bool = True, name: str = "Carol Park") -> dict:
    given, _, family = name.partition(" ")
    return {
        "sub": sub,
        "name": name,
        "given_name": given,
        "family_name": family,
        "picture": "https://lh3.googleusercontent.com/a/ACg8ocK-example=s96-c",
        "email": email,
        "email_verified": email_verified,
        "locale": "en",
    }


def mock_google(mock: responses.RequestsMock, *, sub: str, email: str, email_verified: bool = True,
                name: str = "Carol Park", access_token: str = "ya29.google-access-token",
                **id_token_overrides) -> None:
    """https://developers.google.com/identity/openid-connect/openid-connect#exchangecode: the token
    response carries an RS256 ID token (bound to the sign-in's nonce and to the access token by at_hash),
    verified against Google's JWKS; then userinfo (v3)."""
    claims = google_claims(sub=sub, email=email, email_verified=email_verified, name=name)

    def token_response(request):
        signed = {"issuer": "https://accounts.google.com", "audience": GOOGLE_CLIENT_ID, "key": _GOOGLE_KEY,
                  "azp": GOOGLE_CLIENT_ID, **id_token_overrides}
        signed.setdefault("nonce", _begun_nonces[-1] if _begun_nonces else "no-sign-in-begun")
        id_token = oidc_id_token(sub=sub, email=email, email_verified=email_verified, name=name,
                                 access_token=access_token, **signed)
        return 200, {}, json.dumps({
            "access_token": access_token,
            "expires_in": 3599,
            "scope": "openid https://www.googleapis.com/auth/userinfo.email "
            "https://www.googleapis.com/auth/userinfo.profile",
            "token_type": "Bearer",
            "id_token": id_token,
        })

    mock.add_callback(responses.POST, GOOGLE_TOKEN_URL, callback=token_response, content_type="application/json")
    mock.get(GOOGLE_JWKS_URL, json={"keys": [_GOOGLE_KEY.export_public(as_dict=True)]})
    mock.get(GOOGLE_USERINFO_URL, json=claims)


def kakao_profile(*, kakao_id: int, email: str, nickname: str = "홍길동", email_valid: bool = True,
                  email_verified: bool = True) -> dict:
    """GET /v2/user/me, as documented at https://developers.kakao.com/docs/latest/en/kakaologin/rest-api."""
    image = "https://k.kakaocdn.net/dn/abc123/img_640x640.jpg"
    thumbnail = "https://k.kakaocdn.net/dn/abc123/img_110x110.jpg"
    return {
        "id": kakao_id,
        "connected_at": "2026-11-02T01:45:28Z",
        "properties": {"nickname": nickname, "profile_image": image, "thumbnail_image": thumbnail},
        "kakao_account": {
            "profile_nickname_needs_agreement": False,
            "profile_image_needs_agreement": False,
            "profile": {
                "nickname": nickname,
                "thumbnail_image_url": thumbnail,
                "profile_image_url": image,
                "is_default_image": False,
            },
            "has_email": True,
            "email_needs_agreement": False,
            "is_email_valid": email_valid,
            "is_email_verified": email_verified,
            "email": email,
        },
    }


def mock_kakao(mock: responses.RequestsMock, *, kakao_id: int, email: str, nickname: str = "홍길동",
               email_valid: bool = True, email_verified: bool = True,
               access_token: str = "kakao-access-token-abc") -> None:
    mock.post(KAKAO_TOKEN_URL, json={
        "token_type": "bearer",
        "access_token": access_token,
        "expires_in": 21599,
        "refresh_token": "kakao-refresh-token-xyz",
        "refresh_token_expires_in": 5183999,
        "scope": "account_email profile_image profile_nickname",
    })
    mock.get(KAKAO_PROFILE_URL, json=kakao_profile(
        kakao_id=kakao_id, email=email, nickname=nickname, email_valid=email_valid, email_verified=email_verified
    ))


def mock_facebook(mock: responses.RequestsMock, *, facebook_id: str, email: str, name: str = "Dan Cho",
                  access_token: str = "EAAfacebook-access-token") -> None:
    """https://developers.facebook.com/docs/facebook-login/guides/advanced/manual-flow and Graph API /me."""
    mock.get(FACEBOOK_TOKEN_URL, json={"access_token": access_token, "token_type": "bearer", "expires_in": 5183944})
    first, _, last = name.partition(" ")
    mock.get(FACEBOOK_ME_URL, json={
        "id": facebook_id,
        "name": name,
        "email": email,
        "first_name": first,
        "last_name": last,
        "picture": {"data": {"height": 50, "width": 50, "is_silhouette": False,
                             "url": "https://platform-lookaside.fbsbx.com/platform/profilepic/?asid=1"}},
    })


def mock_oidc_discovery(mock: responses.RequestsMock) -> None:
    mock.get(OIDC_DISCOVERY_URL, json={
        "issuer": OIDC_ISSUER,
        "authorization_endpoint": OIDC_AUTHORIZE_URL,
        "token_endpoint": OIDC_TOKEN_URL,
        "userinfo_endpoint": OIDC_USERINFO_URL,
        "jwks_uri": OIDC_JWKS_URL,
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "profile", "email"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", "email", "email_verified", "name"],
    })
    mock.get(OIDC_JWKS_URL, json={"keys": [_OIDC_KEY.export_public(as_dict=True)]})


def at_hash(access_token: str) -> str:
    digest = hashlib.sha256(access_token.encode()).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


def oidc_id_token(*, sub: str, nonce: str, email: str, email_verified: bool, access_token: str,
                  name: str = "Erin Yoon", issuer: str = OIDC_ISSUER, audience: str = OIDC_CLIENT_ID,
                  key: jwk.JWK = _OIDC_KEY, issued_ago: int = 0, lifetime: int = 300, **extra) -> str:
    """An ID token as the upstream signs it (OIDC Core §2), with `at_hash` bound to the access token."""
    iat = int(time.time()) - issued_ago
    claims = {
        "iss": issuer, "sub": sub, "aud": audience, "iat": iat, "exp": iat + lifetime, "auth_time": iat,
        "nonce": nonce, "at_hash": at_hash(access_token),
        "email": email, "email_verified": email_verified, "name": name, **extra,
    }
    token = jwt.JWT(header={"alg": "RS256", "kid": key["kid"], "typ": "JWT"}, claims=json.dumps(claims))
    token.make_signed_token(key)
    return token.serialize()


def mock_oidc_tokens(mock: responses.RequestsMock, *, sub: str, nonce: str, email: str,
                     email_verified: bool = True, name: str = "Erin Yoon",
                     access_token: str = "sso-access-token", **id_token_overrides) -> None:
    """The token response (with an RS256 ID token bound to `nonce`) and userinfo of the OIDC upstream."""
    id_token = oidc_id_token(sub=sub, nonce=nonce, email=email, email_verified=email_verified, name=name,
                             access_token=access_token, **id_token_overrides)
    mock.post(OIDC_TOKEN_URL, json={
        "access_token": access_token, "token_type": "Bearer", "expires_in": 300, "id_token": id_token,
    })
    mock.get(OIDC_USERINFO_URL, json={
        "sub": sub, "email": email, "email_verified": email_verified, "name": name,
        "preferred_username": name.split()[0].lower(),
    })


def s256(verifier: str) -> str:
    """RFC 7636 §4.2: the S256 code challenge of a verifier."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def calls_to(mock: responses.RequestsMock, url: str) -> list:
    return [c for c in mock.calls if c.request.url.split("?", 1)[0] == url]


def login_query(next_url: str) -> str:
    return "/login/?" + urlencode({"next": next_url})


def federated_sign_in(client: Client, app: TestClientApp, mock: responses.RequestsMock, backend: str, *,
                      uid: str, email: str, email_verified: bool = True, name: str = "Carol Park") -> Authorization:
    """Sign in through `backend` as the upstream account `uid`, landing back at /o/authorize/.

    The mocks of earlier sign-ins in the same test are dropped first, so each sign-in sees its own answers.
    """
    mock.reset()
    auth = authorize_url(app)
    if backend == "oidc":
        mock_oidc_discovery(mock)
        redirect = begin(client, backend, auth)
        mock_oidc_tokens(mock, sub=uid, nonce=redirect.params["nonce"], email=email,
                         email_verified=email_verified, name=name)
        done = callback(client, backend, code="upstream-code", state=redirect.params["state"])
        assert done.status_code == 302 and done["Location"] == auth.url, done
        return auth
    if backend == "google-oauth2":
        mock_google(mock, sub=uid, email=email, email_verified=email_verified, name=name)
    elif backend == "kakao":
        mock_kakao(mock, kakao_id=int(uid), email=email, email_verified=email_verified, nickname=name)
    elif backend == "facebook":
        mock_facebook(mock, facebook_id=uid, email=email, name=name)
    else:
        raise ValueError(backend)
    sign_in(client, backend, auth)
    return auth


# ---------------------------------------------------------------------------------------------
# Native apps: RFC 8693 token exchange, and how each upstream says whose app a token belongs to
# ---------------------------------------------------------------------------------------------

TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
KAKAO_ID = 4011223344
KAKAO_TOKEN = "kakao-sdk-access-token"
GOOGLE_SUB = "110000000000000004242"
GOOGLE_TOKEN = "ya29.google-sdk-access-token"
FACEBOOK_ID = "10159999999999999"
FACEBOOK_TOKEN = "EAAfacebook-sdk-access-token"


def exchange(client: Client, app, token: str, issuer: str, headers: dict | None = None, **extra):
    """A native app's RFC 8693 token exchange at /o/token/ (a public client: no secret)."""
    data = {
        "grant_type": TOKEN_EXCHANGE_GRANT,
        "client_id": app.client_id,
        "subject_token": token,
        "subject_token_type": ACCESS_TOKEN_TYPE,
        "subject_issuer": issuer,
        "scope": "openid profile email",
    }
    data.update(extra)
    return client.post("/o/token/", {k: v for k, v in data.items() if v is not None}, headers=headers)


def mock_kakao_token(mock, *, app_id: str = KAKAO_APP_ID, kakao_id: int = KAKAO_ID, **profile) -> None:
    """GET /v1/user/access_token_info: which app a token belongs to, and to whom."""
    mock.get(KAKAO_TOKEN_INFO_URL, json={"id": kakao_id, "expires_in": 7199, "app_id": int(app_id)})
    mock.get(KAKAO_PROFILE_URL, json=kakao_profile(kakao_id=kakao_id, **{"email": "hong@example.kr", **profile}))


def mock_google_token(mock, *, aud: str = GOOGLE_CLIENT_ID, azp: str = GOOGLE_CLIENT_ID,
                      email: str = "dana@example.com", email_verified: bool = True) -> None:
    """https://oauth2.googleapis.com/tokeninfo for an access token, then userinfo."""
    mock.post(GOOGLE_TOKENINFO_URL, json={
        "azp": azp, "aud": aud, "sub": GOOGLE_SUB, "scope": "openid https://www.googleapis.com/auth/userinfo.email",
        "exp": "1924992000", "expires_in": "3599", "email": email, "email_verified": "true", "access_type": "online",
    })
    mock.get(GOOGLE_USERINFO_URL, json=google_claims(sub=GOOGLE_SUB, email=email, email_verified=email_verified,
                                                     name="Dana Choi"))


def mock_facebook_token(mock, *, app_id: str = FACEBOOK_APP_ID, is_valid: bool = True) -> None:
    """Graph API /debug_token (asked with our app token), then /me."""
    mock.get(FACEBOOK_DEBUG_TOKEN_URL, json={"data": {
        "app_id": app_id, "type": "USER", "application": "Some app", "expires_at": 1924992000,
        "is_valid": is_valid, "scopes": ["email", "public_profile"], "user_id": FACEBOOK_ID,
    }})
    mock.get(FACEBOOK_ME_URL, json={"id": FACEBOOK_ID, "name": "Eun Seo", "email": "eun@example.com",
                                    "first_name": "Eun", "last_name": "Seo"})
