"""Malformed input never answers a 500 (idp/badinput.py); OAuth endpoints answer RFC 6749 §5.2 JSON errors.

First the faults seen in django-oauth-toolkit/oauthlib (GOTCHAS.md), one test each; then a Hypothesis
property test throwing malformed, duplicated, oversized and wrongly encoded parameters at every endpoint.
GATEHOUSE_FUZZ_EXAMPLES sets how many requests it sends (default 1,500, about 25 s; the issue's 5,000 with
`GATEHOUSE_FUZZ_EXAMPLES=5000 .venv/bin/python -m pytest tests/protocol/test_malformed_input.py`, as CI runs
it). Its tally (requests sent, 5xx, by status) ends pytest's output, under "summaries".
"""

from __future__ import annotations

import base64
import os
from collections import Counter
from urllib.parse import quote

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import authorize_url

OAUTH_JSON = ("/o/token/", "/o/introspect/", "/o/revoke_token/")
ENDPOINTS = ("/o/token/", "/o/authorize/", "/o/introspect/", "/o/revoke_token/", "/o/userinfo/", "/login/", "/complete/dev/")


def _assert_oauth_error(response, status: int = 400, error: str = "invalid_request") -> None:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["error"] == error


@pytest.mark.django_db
class TestKnownFaults:
    def test_it_refuses_a_bad_escape_in_the_token_endpoints_query_string(self, client, confidential_client):
        response = client.post("/o/token/?%ZZ", {"grant_type": "client_credentials"})
        _assert_oauth_error(response)

    def test_it_refuses_a_bad_escape_in_a_form_body(self, client):
        response = client.post(
            "/o/token/", b"grant_type=authorization_code&code=%G1", content_type="application/x-www-form-urlencoded"
        )
        _assert_oauth_error(response)

    def test_it_answers_a_readable_page_for_a_bad_escape_on_a_page(self, client):
        response = client.get("/o/authorize/?client_id=%ZZ", HTTP_ACCEPT_LANGUAGE="en")
        assert response.status_code == 400
        assert response["Content-Type"].startswith("text/html")
        assert b"Bad request" in response.content
        assert response["X-Frame-Options"] == "DENY"

    def test_it_refuses_nul_bytes(self, client, confidential_client):
        response = client.post("/o/token/", {"grant_type": "authorization_code", "code": "a\x00b",
                                             "client_id": confidential_client.client_id})
        _assert_oauth_error(response)
        assert client.get("/o/authorize/?client_id=%00").status_code == 400

    @pytest.mark.parametrize("credentials", ["wiki\x00:secret", "wiki%00:secret", "wiki:sec\x00ret"])
    def test_it_refuses_nul_bytes_in_basic_credentials(self, client, confidential_client, credentials):
        # DOT %-decodes the client_id and queries it: PostgreSQL refused the NUL with a 500 (the fuzz test found it).
        basic = "Basic " + base64.b64encode(credentials.encode()).decode()
        for path in OAUTH_JSON:
            _assert_oauth_error(client.post(path, {"grant_type": "client_credentials", "token": "x"}, HTTP_AUTHORIZATION=basic))
        _assert_oauth_error(client.get("/o/introspect/?token=x", HTTP_AUTHORIZATION=basic))

    def test_it_ignores_a_session_cookie_that_no_session_could_have(self, client, alice):
        # PostgreSQL refused the NUL in the session lookup with a 500; such a cookie now names no session.
        for cookie in ("sessionid=abcdefghij\x00klmnop", "sessionid=ABCDEFGHIJ+/=klmnop"):
            assert client.get("/login/", HTTP_COOKIE=cookie).status_code == 200
            assert client.get("/o/authorize/?client_id=x", HTTP_COOKIE=cookie).status_code == 302
        client.force_login(alice)  # a real session's key still works
        assert client.get("/account/").status_code == 200

    def test_it_takes_a_max_age_in_other_digits_as_no_max_age(self, client, alice, confidential_client):
        # "²".isdigit() is True and int("²") raised: a 500 for a signed-in person (OIDC Core §3.1.2.1 max_age).
        client.force_login(alice)
        for max_age in ("²", "١٢", "99999999999999999999"):
            response = client.get(authorize_url(confidential_client, max_age=max_age).url)
            assert response.status_code == 200, (max_age, response)  # the consent page, as without max_age

    def test_it_refuses_grant_type_openid(self, client, confidential_client):
        response = client.post("/o/token/", {"grant_type": "openid", "client_id": confidential_client.client_id,
                                             "client_secret": confidential_client.client_secret})
        _assert_oauth_error(response, error="unsupported_grant_type")

    def test_it_refuses_a_device_code_grant_without_device_code(self, client, confidential_client):
        response = client.post("/o/token/", {
            "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
            "client_id": confidential_client.client_id, "client_secret": confidential_client.client_secret,
        })  # fmt: skip
        assert response.status_code == 400
        assert "error" in response.json()

    def test_it_refuses_a_broken_multipart_body(self, client):
        for content_type in ("multipart/form-data", "multipart/form-data; boundary=", "multipart/form-data; boundary=\x00"):
            response = client.post("/o/token/", b"--x\r\ngarbage", content_type=content_type)
            _assert_oauth_error(response)
        page = client.post("/login/dev/", b"--x\r\ngarbage", content_type="multipart/form-data")
        assert page.status_code == 400 and page["Content-Type"].startswith("text/html")

    def test_it_refuses_more_than_a_thousand_fields(self, client):
        _assert_oauth_error(client.post("/o/token/", {f"f{n}": "x" for n in range(1001)}))
        _assert_oauth_error(client.get("/o/userinfo/?" + "&".join(f"f{n}=x" for n in range(1001))))
        assert client.get("/o/authorize/?" + "&".join(f"f{n}=x" for n in range(1001))).status_code == 400


# --- the property test -----------------------------------------------------------------------------

NAMES = (
    "grant_type", "code", "client_id", "client_secret", "redirect_uri", "code_verifier", "refresh_token",
    "token", "token_type_hint", "response_type", "scope", "state", "nonce", "code_challenge",
    "code_challenge_method", "prompt", "max_age", "id_token_hint", "device_code", "subject_token",
    "subject_token_type", "resource", "email", "name", "next", "access_token",
)  # fmt: skip
VALUES = (
    "authorization_code", "refresh_token", "client_credentials", "openid", "password", "implicit",
    "urn:ietf:params:oauth:grant-type:device_code", "urn:ietf:params:oauth:grant-type:token-exchange",
    "urn:ietf:params:oauth:token-type:access_token", "code", "token", "id_token", "none", "login consent",
    "openid profile email", "S256", "plain", "https://app.example.com/callback", "http://127.0.0.1:7000/cb",
    "-1", "0", "99999999999999999999", "", " ",
)  # fmt: skip

text = st.text(st.characters(codec="utf-8"), max_size=40)
value = st.one_of(st.sampled_from(VALUES), text, st.text(max_size=3000).map(lambda v: v * 3))
name = st.one_of(st.sampled_from(NAMES), text)
params = st.lists(st.tuples(name, value), max_size=12)
raw = st.binary(max_size=200)


def _encode(pairs, style: str, junk: bytes) -> bytes:
    if style == "raw":  # unescaped, as a careless or hostile client might send them
        body = "&".join(f"{k}={v}" for k, v in pairs).encode("utf-8", "surrogatepass")
    elif style == "latin1":
        body = "&".join(f"{quote(k.encode('latin-1', 'replace'))}={quote(v.encode('latin-1', 'replace'))}" for k, v in pairs).encode()
    else:
        body = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs).encode()
    return body + junk


@st.composite
def requests(draw):
    endpoint = draw(st.sampled_from(ENDPOINTS))
    method = draw(st.sampled_from(("GET", "POST", "POST", "PUT")))
    query = _encode(draw(params), draw(st.sampled_from(("quoted", "raw", "latin1"))), draw(st.sampled_from((b"", b"", b"", b"", b"%", b"%Z", b"&%zz"))))
    content_type = draw(st.sampled_from((
        "application/x-www-form-urlencoded", "application/x-www-form-urlencoded; charset=latin-1",
        "multipart/form-data; boundary=BoUnDaRy", "multipart/form-data", "application/json", "text/plain",
    )))  # fmt: skip
    pairs = draw(params)
    if content_type.startswith("multipart") and draw(st.booleans()):
        body = b"".join(
            b"--BoUnDaRy\r\nContent-Disposition: form-data; name=\"" + k.encode("utf-8", "replace")
            + b"\"\r\n\r\n" + v.encode("utf-8", "replace") + b"\r\n" for k, v in pairs
        ) + draw(st.sampled_from((b"--BoUnDaRy--\r\n", b"", b"--BoUnDaRy")))
    else:
        body = _encode(pairs, draw(st.sampled_from(("quoted", "raw", "latin1"))), draw(st.one_of(st.just(b""), st.just(b""), raw)))
    headers = {}
    auth = draw(st.sampled_from(("none", "basic", "basic-garbage", "bearer")))
    if auth == "basic":
        headers["HTTP_AUTHORIZATION"] = "Basic " + base64.b64encode(
            (draw(text) + ":" + draw(text)).encode("utf-8", "surrogatepass")).decode()
    elif auth == "basic-garbage":
        headers["HTTP_AUTHORIZATION"] = "Basic " + draw(st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30))
    elif auth == "bearer":
        headers["HTTP_AUTHORIZATION"] = "Bearer " + draw(st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60))
    cookie = draw(st.sampled_from(("none", "none", "session", "garbage")))
    if cookie == "session":  # a session key that looks real but names no session, or a broken one
        headers["HTTP_COOKIE"] = "sessionid=" + draw(st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=32, max_size=32))
    elif cookie == "garbage":
        # As a WSGI server hands over any header: its bytes (here UTF-8 of arbitrary text) read as Latin-1.
        junk = draw(text).encode("utf-8", "surrogatepass").decode("latin-1")
        headers["HTTP_COOKIE"] = draw(st.sampled_from(("sessionid=", "csrftoken=", "django_language="))) + junk
    return endpoint, method, query.decode("latin-1"), content_type, body, headers


EXAMPLES = int(os.getenv("GATEHOUSE_FUZZ_EXAMPLES", "1500"))


@pytest.mark.django_db
def test_it_never_answers_5xx_to_malformed_input(confidential_client, public_client, record_property):
    sent: Counter[int] = Counter()

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(request=requests())
    def probe(request):
        endpoint, method, query, content_type, body, headers = request
        client = Client()  # raises any exception a view lets out, so a 500 fails here with its traceback
        path = f"{endpoint}?{query}" if query else endpoint
        try:
            response = client.generic(method, path, body, content_type=content_type, **headers)
        except Exception:
            sent[500] += 1  # what a server would have answered
            raise
        sent[response.status_code] += 1
        assert response.status_code < 500, (path, body[:200], response.content[:300])
        if endpoint in OAUTH_JSON and response.status_code in (400, 401, 403):
            # RFC 6749 §5.2 (token), RFC 7009 §2.2.1 (revocation), RFC 7662 §2.3 (introspection).
            assert response["Content-Type"].startswith("application/json"), (path, response.content[:300])
            assert "error" in response.json()
        if endpoint == "/o/userinfo/" and response.status_code in (400, 401, 403):
            # RFC 6750 §3: the error travels in WWW-Authenticate, or a JSON body.
            assert "WWW-Authenticate" in response or response.json().get("error")

    try:
        probe()
    finally:
        # Shown at the end of every run, passed or failed (tests/conftest.py: pytest_terminal_summary).
        tally = (f"malformed-input requests sent: {sum(sent.values())} (asked for {EXAMPLES}), "
                 f"5xx: {sum(n for status, n in sent.items() if status >= 500)}, by status: {dict(sorted(sent.items()))}")
        record_property("summary", tally)
        print("\n" + tally)
    assert sum(sent.values()) >= EXAMPLES
