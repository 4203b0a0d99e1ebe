"""Single logout: OpenID Connect Back-Channel Logout 1.0 and RP-initiated logout ending one session.

Logout tokens travel over real HTTP to a receiver listening on loopback, sent by Gatehouse's own threads
(idp/backchannel.py), exactly as in production.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode

import pytest
from django.db import DatabaseError
from django.test import Client
from django.utils import timezone
from jwcrypto import jwk, jws, jwt

from idp import backchannel
from idp.models import LogoutDelivery, SessionAuthorization
from tests.conftest import _register, approve_consent, authorize_url, dev_sign_in, exchange_code, query_of

EVENT = "http://schemas.openid.net/event/backchannel-logout"


class Receiver:
    """An HTTP server on loopback that records POSTed logout tokens; answers can be scripted per path."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict]] = []
        self.answers: dict[str, list[int]] = {}
        self.changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                scripted = receiver.answers.get(self.path) or []
                status = scripted.pop(0) if scripted else 200
                with receiver.changed:
                    receiver.received.append(
                        (self.path, {"status": status, "form": parse_qs(body), "type": self.headers["Content-Type"]})
                    )
                    receiver.changed.notify_all()
                self.send_response(status)
                self.send_header("Cache-Control", "no-store")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def posts_to(self, path: str) -> list[dict]:
        return [request for received_path, request in self.received if received_path == path]

    def wait_for(self, path: str, count: int = 1, timeout: float = 10) -> list[dict]:
        deadline = time.monotonic() + timeout
        with self.changed:
            while len(self.posts_to(path)) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{path} received {len(self.posts_to(path))} logout tokens, not {count}")
                self.changed.wait(remaining)
        return self.posts_to(path)


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.server.shutdown()
    server.server.server_close()


def _client_with_backchannel(name: str, uri: str, **extra):
    redirect = f"https://{name.lower()}.example.com/callback"
    return _register(name=name, redirect_uris=[redirect], backchannel_logout_uri=uri, **extra)


def _sign_in_to(browser: Client, app) -> dict:
    """The browser (already signed in to Gatehouse) signs in to `app`; returns its token response."""
    auth = authorize_url(app)
    params = query_of(approve_consent(browser, auth.url))
    response = exchange_code(browser, app, params["code"], auth.verifier)
    assert response.status_code == 200, response.content
    return response.json()


def _claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _end_session(browser: Client, **params) -> object:
    """RP-initiated logout at the end_session_endpoint, approving the confirmation form."""
    url = "/o/logout/?" + urlencode(params)
    page = browser.get(url)
    assert page.status_code == 200, page
    form = page.context["form"]
    data = {n: form[n].value() for n in form.fields if form[n].value()}
    response = browser.post(url, {**data, "allow": "1"})
    assert response.status_code == 302, response
    return response


def _refresh(browser: Client, app, refresh_token: str):
    return browser.post(
        "/o/token/",
        {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": app.client_id,
         "client_secret": app.client_secret},
    )  # fmt: skip


def _verified_logout_token(token: str, *, audience: str) -> tuple[dict, dict]:
    """Verify a logout token the way a relying party must (§2.6): against the published JWKS."""
    jwks = jwk.JWKSet.from_json(Client().get("/o/.well-known/jwks.json").content.decode())
    verified = jwt.JWT(
        jwt=token, key=jwks, algs=["RS256"], check_claims={"iss": "http://testserver", "aud": audience, "exp": None}
    )
    unverified = jws.JWS()
    unverified.deserialize(token)
    return dict(unverified.jose_header), json.loads(verified.claims)


# --- discovery and ID tokens ------------------------------------------------------------------------


@pytest.mark.spec("OIDC Back-Channel Logout", "2.1", "backchannel_logout_supported and _session_supported in discovery")
@pytest.mark.django_db
def test_it_announces_back_channel_logout_with_sessions_in_discovery(client):
    data = client.get("/.well-known/openid-configuration").json()
    assert data["backchannel_logout_supported"] is True
    assert data["backchannel_logout_session_supported"] is True
    assert data["end_session_endpoint"] == "http://testserver/o/logout/"


@pytest.mark.spec("OIDC Back-Channel Logout", "2.1", "sid claim in ID tokens")
@pytest.mark.django_db
def test_it_puts_one_sid_per_session_in_id_tokens(client, confidential_client, trusted_client):
    dev_sign_in(client, "carol@example.com", "Carol")
    first = _sign_in_to(client, confidential_client)
    second = _sign_in_to(client, trusted_client)
    sid = _claims(first["id_token"])["sid"]
    assert sid and _claims(second["id_token"])["sid"] == sid
    # It is a random value of its own, never the session key (a client holding that could be the person).
    assert sid != client.cookies["sessionid"].value

    # An ID token issued on refresh belongs to the same session.
    refreshed = _refresh(client, confidential_client, first["refresh_token"]).json()
    assert _claims(refreshed["id_token"])["sid"] == sid

    # Another browser session of the same person has another sid.
    other = Client()
    dev_sign_in(other, "carol@example.com", "Carol")
    assert _claims(_sign_in_to(other, confidential_client)["id_token"])["sid"] != sid


# --- RP-initiated logout: the session's tokens, the session itself ----------------------------------


@pytest.mark.spec("OIDC Back-Channel Logout", "2.7", "Refresh tokens of the ended session revoked (without offline_access)")
@pytest.mark.django_db
def test_it_revokes_the_refresh_tokens_of_the_ended_session_only(client, confidential_client):
    dev_sign_in(client, "carol@example.com", "Carol")
    issued = _sign_in_to(client, confidential_client)
    rotated = _refresh(client, confidential_client, issued["refresh_token"]).json()
    elsewhere = Client()  # the same person on another computer
    dev_sign_in(elsewhere, "carol@example.com", "Carol")
    other_session = _sign_in_to(elsewhere, confidential_client)

    _end_session(client, id_token_hint=issued["id_token"])

    refused = _refresh(client, confidential_client, rotated["refresh_token"])
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    introspection = client.post(
        "/o/introspect/", {"token": rotated["access_token"]},
        HTTP_AUTHORIZATION="Basic " + base64.b64encode(
            f"{confidential_client.client_id}:{confidential_client.client_secret}".encode()).decode(),
    ).json()  # fmt: skip
    assert introspection["active"] is False
    # The other session's tokens live on: logout is not "every device".
    assert _refresh(elsewhere, confidential_client, other_session["refresh_token"]).status_code == 200
    assert elsewhere.get("/account/").status_code == 200


@pytest.mark.django_db
def test_it_ends_the_session_so_the_old_cookie_stops_working(client, confidential_client):
    dev_sign_in(client, "carol@example.com", "Carol")
    issued = _sign_in_to(client, confidential_client)
    old_cookie = client.cookies["sessionid"].value

    response = _end_session(client, id_token_hint=issued["id_token"])
    assert response["Location"] == "/login/"

    replay = Client()
    replay.cookies["sessionid"] = old_cookie
    assert replay.get("/account/").status_code == 302
    assert not SessionAuthorization.objects.exists()


@pytest.mark.django_db
def test_it_refuses_a_code_issued_in_a_session_that_has_ended(client, confidential_client):
    dev_sign_in(client, "carol@example.com", "Carol")
    auth = authorize_url(confidential_client)
    code = query_of(approve_consent(client, auth.url))["code"]
    _end_session(client)
    refused = exchange_code(client, confidential_client, code, auth.verifier)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"


@pytest.mark.django_db
def test_it_revokes_a_sessions_tokens_from_its_id_token_after_the_browser_session_is_gone(
    client, confidential_client
):
    dev_sign_in(client, "carol@example.com", "Carol")
    issued = _sign_in_to(client, confidential_client)
    client.cookies.pop("sessionid")  # the browser lost its session (expired, cleared)
    response = client.get("/o/logout/?" + urlencode({"id_token_hint": issued["id_token"]}))
    assert response.status_code == 302
    assert _refresh(client, confidential_client, issued["refresh_token"]).status_code == 400


@pytest.mark.django_db
def test_it_redirects_a_public_client_to_its_registered_loopback_post_logout_uri(client):
    spa = _register(
        name="SPA", redirect_uris=["http://127.0.0.1:7000/"], public=True,
        post_logout_redirect_uris=["http://127.0.0.1:7000/signed-out"],
    )  # fmt: skip
    dev_sign_in(client, "carol@example.com", "Carol")
    tokens = _sign_in_to(client, spa)
    unregistered = client.get(
        "/o/logout/?"
        + urlencode({"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": "http://127.0.0.1:7000/x"})
    )
    assert unregistered.status_code == 400
    response = _end_session(
        client, id_token_hint=tokens["id_token"], post_logout_redirect_uri="http://127.0.0.1:7000/signed-out",
        state="s1",
    )
    assert response["Location"] == "http://127.0.0.1:7000/signed-out?state=s1"


@pytest.mark.django_db
def test_it_lets_a_single_page_app_read_its_token_response_from_its_own_origin_only(client):
    spa = _register(name="SPA", redirect_uris=["http://127.0.0.1:7000/callback"], public=True)
    dev_sign_in(client, "carol@example.com", "Carol")

    def exchange(origin: str):
        auth = authorize_url(spa)
        code = query_of(approve_consent(client, auth.url))["code"]
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": spa.redirect_uri,
                "code_verifier": auth.verifier, "client_id": spa.client_id}  # fmt: skip
        return client.post("/o/token/", data, HTTP_ORIGIN=origin)

    allowed = exchange("http://127.0.0.1:7000")
    assert allowed.status_code == 200 and allowed["Access-Control-Allow-Origin"] == "http://127.0.0.1:7000"
    assert "Access-Control-Allow-Origin" not in exchange("http://127.0.0.1:6666")


# --- back-channel logout tokens over HTTP --------------------------------------------------------------


@pytest.mark.spec("OIDC Back-Channel Logout", "2.4", "Signed logout token with iss, aud, iat, jti, events, sid")
@pytest.mark.spec("OIDC Back-Channel Logout", "2.5", "Logout token POSTed to each RP of the session")
@pytest.mark.django_db(transaction=True)
def test_it_sends_a_signed_logout_token_to_every_client_of_the_session_and_no_other(client, receiver, bob):
    wiki = _client_with_backchannel("Wiki", f"{receiver.url}/wiki")
    chat = _client_with_backchannel("Chat", f"{receiver.url}/chat", trusted=True)
    payroll = _client_with_backchannel("Payroll", f"{receiver.url}/payroll")
    no_uri = _register(name="Calendar", redirect_uris=["https://calendar.example.com/cb"])
    dev_sign_in(client, "carol@example.com", "Carol")
    wiki_tokens = _sign_in_to(client, wiki)
    _sign_in_to(client, chat)
    _sign_in_to(client, no_uri)
    someone_else = Client()  # bob signs in to Payroll: that is not carol's session
    dev_sign_in(someone_else, "bob@example.com", "Bob")
    _sign_in_to(someone_else, payroll)
    sid = _claims(wiki_tokens["id_token"])["sid"]
    started = time.time()

    _end_session(client, id_token_hint=wiki_tokens["id_token"], client_id=wiki.client_id)

    (wiki_post,) = receiver.wait_for("/wiki", timeout=10)
    (chat_post,) = receiver.wait_for("/chat", timeout=10)
    assert time.time() - started < 10
    assert wiki_post["type"] == "application/x-www-form-urlencoded"
    header, claims = _verified_logout_token(wiki_post["form"]["logout_token"][0], audience=wiki.client_id)
    assert header["typ"] == "logout+jwt" and header["alg"] == "RS256" and header["kid"]
    assert claims["iss"] == "http://testserver" and claims["aud"] == wiki.client_id
    assert claims["events"] == {EVENT: {}}
    assert claims["sid"] == sid and claims["sub"] == _claims(wiki_tokens["id_token"])["sub"]
    assert claims["jti"] and claims["iat"] <= time.time() + 1 and claims["exp"] > claims["iat"]
    assert "nonce" not in claims
    _, chat_claims = _verified_logout_token(chat_post["form"]["logout_token"][0], audience=chat.client_id)
    assert chat_claims["sid"] == sid and chat_claims["jti"] != claims["jti"]

    time.sleep(0.5)  # anything else would have been sent with these
    assert receiver.posts_to("/payroll") == []
    assert LogoutDelivery.objects.filter(application=payroll.application).count() == 0
    assert _wait_until(lambda: set(LogoutDelivery.objects.values_list("state", flat=True)) == {"delivered"})


@pytest.mark.spec("OIDC Back-Channel Logout", "2.8", "Delivery failure handled: retried")
@pytest.mark.django_db(transaction=True)
def test_it_retries_a_failed_delivery_from_the_database(client, receiver):
    wiki = _client_with_backchannel("Wiki", f"{receiver.url}/wiki")
    receiver.answers["/wiki"] = [503]  # the first attempt fails, the next one succeeds
    dev_sign_in(client, "carol@example.com", "Carol")
    _sign_in_to(client, wiki)

    client.post("/logout/")  # the account page's sign-out ends the session the same way

    (failed,) = receiver.wait_for("/wiki", timeout=10)
    assert failed["status"] == 503
    delivery = _wait_until(lambda: LogoutDelivery.objects.filter(attempts=1, last_error="HTTP 503").first())
    assert delivery.state == "pending"
    # Retried within a minute of the failure: due after RETRY_DELAYS[0], found within one poll interval.
    assert (delivery.next_attempt_at - timezone.now()).total_seconds() + backchannel.POLL_SECONDS <= 60

    # Time passes; any node's worker (here one started in this process) picks the row up from the database.
    LogoutDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    worker = backchannel.Worker(interval=0.2)
    worker.start()
    try:
        posts = receiver.wait_for("/wiki", count=2, timeout=10)
        delivered = _wait_until(lambda: LogoutDelivery.objects.filter(pk=delivery.pk, state="delivered").first())
    finally:
        worker.stop()
        worker.join(5)
    assert delivered.attempts == 2
    first, second = (_claims(post["form"]["logout_token"][0]) for post in posts)
    assert first["jti"] == second["jti"]  # one logout, however many attempts


@pytest.mark.django_db
def test_it_gives_up_after_the_last_retry(confidential_client, alice):
    (delivery,) = LogoutDelivery.objects.bulk_create(
        [LogoutDelivery(application=confidential_client.application, uri="http://127.0.0.1:9/bcl", sub=alice.sub,
                        jti="j1", attempts=len(backchannel.RETRY_DELAYS), next_attempt_at=timezone.now())]
    )  # fmt: skip
    assert backchannel.deliver_due() == 1  # nothing listens on port 9
    delivery.refresh_from_db()
    assert delivery.state == "failed" and delivery.next_attempt_at is None and delivery.last_error
    assert backchannel.deliver_due() == 0


@pytest.mark.django_db
def test_it_never_sends_one_attempt_twice(confidential_client, alice):
    (delivery,) = LogoutDelivery.objects.bulk_create(
        [LogoutDelivery(application=confidential_client.application, uri="http://127.0.0.1:9/bcl", sub=alice.sub,
                        jti="j2", next_attempt_at=timezone.now())]
    )  # fmt: skip
    stale = LogoutDelivery.objects.get(pk=delivery.pk)
    assert backchannel._claim(delivery, timezone.now()) is True
    assert backchannel._claim(stale, timezone.now()) is False  # another worker read it before the claim


def _wait_until(find, timeout: float = 10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = find()
        except DatabaseError:  # the test database is SQLite in memory: a table is locked while a sender writes
            found = None
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("condition not reached")
