"""Which local user an upstream identity signs in as, and what happens when the upstream round trip fails.

Policy (federation/pipeline.py): a known identity -> its user; a new identity whose email the upstream
verified, equal to a user's verified email -> linked to that user; anything else -> a new user.
"""

from __future__ import annotations

import html
import re

import pytest
import requests
import responses
from django.conf import settings
from django.test import Client
from social_core.exceptions import AuthResponseError
from social_django.models import UserSocialAuth

from idp.models import AuditEvent, User
from idp.services import user_create
from tests.conftest import authorize_url, verify_id_token
from tests.federation.upstream import (
    FACEBOOK_ME_URL,
    FACEBOOK_TOKEN_URL,
    GOOGLE_TOKEN_URL,
    GOOGLE_USERINFO_URL,
    KAKAO_PROFILE_URL,
    KAKAO_TOKEN_URL,
    OIDC_TOKEN_URL,
    OIDC_USERINFO_URL,
    begin,
    callback,
    consent_and_exchange,
    federated_sign_in,
    login_form,
    mock_facebook,
    mock_google,
    mock_kakao,
    mock_oidc_discovery,
    upstream,  # noqa: F401 (fixture)
)


def _sub_seen_by_client(browser, app, auth) -> str:
    tokens = consent_and_exchange(browser, app, auth)
    return verify_id_token(browser, tokens.id_token, audience=app.client_id, nonce=auth.nonce)["sub"]


# ---------------------------------------------------------------------------------------------
# Linking by email
# ---------------------------------------------------------------------------------------------


def test_it_links_a_verified_upstream_email_to_the_user_with_that_verified_email(confidential_client, upstream):
    kakao_browser = Client()
    kakao_auth = federated_sign_in(kakao_browser, confidential_client, upstream, "kakao",
                                   uid="777001", email="carol@example.com", name="Carol Park")
    carol = User.objects.get()
    assert carol.email_verified is True

    google_browser = Client()
    google_auth = federated_sign_in(google_browser, confidential_client, upstream, "google-oauth2",
                                    uid="110000000000000000777", email="carol@example.com")

    assert User.objects.count() == 1
    assert sorted(carol.social_auth.values_list("provider", "uid")) == [
        ("google-oauth2", "110000000000000000777"), ("kakao", "777001"),
    ]
    linked = AuditEvent.objects.get(event="identity.linked", provider="google-oauth2")
    assert linked.user == carol
    assert linked.data == {"reason": "verified_email"}
    # The client app sees one person, whichever upstream they came through.
    assert _sub_seen_by_client(kakao_browser, confidential_client, kakao_auth) == carol.sub
    assert _sub_seen_by_client(google_browser, confidential_client, google_auth) == carol.sub


def test_it_links_a_verified_upstream_email_to_an_existing_verified_user(confidential_client, upstream, alice):
    federated_sign_in(Client(), confidential_client, upstream, "oidc", uid="sso-alice", email="ALICE@example.com")

    assert User.objects.count() == 1
    assert UserSocialAuth.objects.get().user == alice
    assert AuditEvent.objects.get(event="identity.linked").data == {"reason": "verified_email"}
    assert not AuditEvent.objects.filter(event="user.created").exists()


# Kakao says is_email_verified false, the OIDC upstream email_verified false; Facebook never vouches.
@pytest.mark.parametrize("backend, uid", [("kakao", "777002"), ("oidc", "sso-mallory"), ("facebook", "10150000")])
def test_it_never_links_an_unverified_upstream_email_to_an_existing_user(
    confidential_client, upstream, alice, backend, uid
):
    browser = Client()
    auth = federated_sign_in(browser, confidential_client, upstream, backend,
                             uid=uid, email="alice@example.com", email_verified=False, name="Not Alice")

    newcomer = UserSocialAuth.objects.get().user
    assert newcomer != alice
    assert newcomer.email == "alice@example.com"
    assert newcomer.email_verified is False
    assert not alice.social_auth.exists()
    alice.refresh_from_db()
    assert alice.name == "Alice Kim"
    assert not AuditEvent.objects.filter(user=alice).exists()
    assert AuditEvent.objects.get(event="identity.linked").data == {"reason": "new_user"}
    assert _sub_seen_by_client(browser, confidential_client, auth) == newcomer.sub
    assert newcomer.sub != alice.sub


def test_it_never_links_to_a_user_whose_own_email_is_unverified(confidential_client, upstream):
    # Someone registered dave@example.com before Dave arrived, without proving they own it.
    squatter = user_create(email="dave@example.com", email_verified=False, name="Squatter")

    federated_sign_in(Client(), confidential_client, upstream, "google-oauth2",
                      uid="110000000000000000888", email="dave@example.com", name="Dave Han")

    dave = UserSocialAuth.objects.get().user
    assert dave != squatter
    assert dave.email_verified is True and dave.name == "Dave Han"
    assert not squatter.social_auth.exists()
    squatter.refresh_from_db()
    assert squatter.email_verified is False
    assert not AuditEvent.objects.filter(user=squatter).exists()


def test_it_never_links_to_an_inactive_user(confidential_client, upstream, bob):
    bob.is_active = False
    bob.save(update_fields=["is_active"])

    federated_sign_in(Client(), confidential_client, upstream, "kakao", uid="777003", email="bob@example.com")

    assert UserSocialAuth.objects.get().user != bob


# ---------------------------------------------------------------------------------------------
# Known identities
# ---------------------------------------------------------------------------------------------


def test_it_signs_a_known_identity_back_in_to_the_same_user(confidential_client, upstream):
    first_browser = Client()
    first = federated_sign_in(first_browser, confidential_client, upstream, "kakao",
                              uid="777004", email="erin@example.com", name="Erin Yoon")
    erin = User.objects.get()
    first_sub = _sub_seen_by_client(first_browser, confidential_client, first)

    second_browser = Client()
    second = federated_sign_in(second_browser, confidential_client, upstream, "kakao",
                               uid="777004", email="erin@example.com", name="Erin Yoon")

    assert User.objects.count() == 1 and UserSocialAuth.objects.count() == 1
    assert _sub_seen_by_client(second_browser, confidential_client, second) == first_sub == erin.sub
    assert AuditEvent.objects.filter(event="login", user=erin).count() == 2
    assert AuditEvent.objects.filter(event="user.created").count() == 1
    assert AuditEvent.objects.filter(event="identity.linked").count() == 1


def test_it_keeps_a_known_identity_on_its_user_when_its_email_now_matches_someone_else(
    confidential_client, upstream, bob
):
    federated_sign_in(Client(), confidential_client, upstream, "kakao", uid="777005", email="erin@example.com")
    erin = UserSocialAuth.objects.get().user

    federated_sign_in(Client(), confidential_client, upstream, "kakao", uid="777005", email="bob@example.com")

    assert UserSocialAuth.objects.get().user == erin
    assert not bob.social_auth.exists()


# ---------------------------------------------------------------------------------------------
# Failed round trips: nothing is created, the person gets a readable page, never a 500
# ---------------------------------------------------------------------------------------------

PROVIDER_NAMES = {"kakao": "Kakao", "google-oauth2": "Google", "facebook": "Facebook", "oidc": "Example SSO"}
TOKEN_URLS = {"kakao": KAKAO_TOKEN_URL, "google-oauth2": GOOGLE_TOKEN_URL, "facebook": FACEBOOK_TOKEN_URL,
              "oidc": OIDC_TOKEN_URL}
PROFILE_URLS = {"kakao": KAKAO_PROFILE_URL, "google-oauth2": GOOGLE_USERINFO_URL, "facebook": FACEBOOK_ME_URL,
                "oidc": OIDC_USERINFO_URL}


def _nothing_created() -> bool:
    return not User.objects.exists() and not UserSocialAuth.objects.exists()


def _refusal(event: str = "login.failed") -> AuditEvent:
    """The one audit record a failed sign-in leaves (no user: nobody signed in)."""
    (record,) = AuditEvent.objects.exclude(provider="")  # sign-in events always name their upstream
    assert record.event == event and record.user is None
    return record


def _message_after(browser, response) -> str:
    """Follow a redirect back to the login page and return the page."""
    assert response.status_code == 302, response
    assert response["Location"].startswith("/login/"), response["Location"]
    page = browser.get(response["Location"])
    assert page.status_code == 200
    return page.content.decode()


def _start_again_link(response) -> str:
    """The "Start again" page's link."""
    page = response.content.decode()
    assert response.status_code == 400, response
    assert "Please start again" in page and "Nothing was changed" in page
    match = re.search(r'<a class="btn btn-primary btn-action" href="([^"]*)">Start again</a>', page)
    assert match, page
    return html.unescape(match.group(1))


@pytest.mark.parametrize("backend", ["kakao", "google-oauth2", "facebook", "oidc"])
def test_it_returns_to_the_login_page_when_the_person_cancels_upstream(
    client, confidential_client, upstream, backend
):
    mock_oidc_discovery(upstream)  # the OIDC upstream is discovered when the sign-in begins
    auth = authorize_url(confidential_client)
    redirect = begin(client, backend, auth)
    calls_before = len(upstream.calls)

    # What each provider sends back when the person presses Cancel (RFC 6749 §4.1.2.1).
    cancelled = callback(client, backend, error="access_denied", error_description="User denied access",
                         state=redirect.params["state"])

    page = _message_after(client, cancelled)
    assert f"You cancelled signing in with {PROVIDER_NAMES[backend]}." in page
    # Back on the login page of the same authorization request, ready to try again.
    assert login_form(client, cancelled["Location"], backend)["next"] == auth.url
    assert len(upstream.calls) == calls_before
    assert _nothing_created()
    assert _refusal("login.cancelled").outcome == "failure"


@pytest.mark.spec("RFC 6749", "10.12", "CSRF: upstream callback state checked")
def test_it_shows_start_again_for_a_callback_with_a_forged_state(client, confidential_client, upstream):
    auth = authorize_url(confidential_client)
    begin(client, "kakao", auth)
    mock_kakao(upstream, kakao_id=777006, email="carol@example.com")

    forged = callback(client, "kakao", code="attacker-code", state="forged-state-value")

    # "Start again" resumes the authorization request the person was in the middle of.
    assert _start_again_link(forged) == auth.url
    assert len(upstream.calls) == 0
    assert _nothing_created()
    assert _refusal().outcome == "refused"


def test_it_shows_start_again_for_a_callback_without_a_state(client, confidential_client, upstream):
    auth = authorize_url(confidential_client)
    begin(client, "google-oauth2", auth)
    mock_google(upstream, sub="110000000000000000999", email="carol@example.com")

    missing = callback(client, "google-oauth2", code="attacker-code")

    assert _start_again_link(missing) == auth.url
    assert len(upstream.calls) == 0
    assert _nothing_created()


def test_it_refuses_a_callback_in_a_browser_that_did_not_start_the_sign_in(confidential_client, upstream):
    # Login CSRF: the attacker starts a sign-in with their own account and sends the victim the callback.
    attacker, victim = Client(), Client()
    redirect = begin(attacker, "kakao", authorize_url(confidential_client))
    mock_kakao(upstream, kakao_id=666, email="mallory@example.net")

    planted = callback(victim, "kakao", code="attacker-code", state=redirect.params["state"])

    # The victim's browser was going nowhere: "Start again" is the plain login page.
    assert _start_again_link(planted) == "/login/"
    assert len(upstream.calls) == 0
    assert _nothing_created()
    assert "_auth_user_id" not in victim.session


@pytest.mark.spec("RFC 9700", "4.7", "CSRF protection: state one-time use")
def test_it_refuses_a_replayed_callback_because_state_is_one_time(client, confidential_client, upstream):
    auth = authorize_url(confidential_client)
    redirect = begin(client, "kakao", auth)
    mock_kakao(upstream, kakao_id=777007, email="erin@example.com")
    first = callback(client, "kakao", code="upstream-code", state=redirect.params["state"])
    assert first.status_code == 302 and first["Location"].startswith("/o/authorize/")
    calls_after_first = len(upstream.calls)
    # The callback cleared the sign-in's state from the session.
    assert not [key for key in client.session.keys() if redirect.params["state"] in key]

    replayed = callback(client, "kakao", code="upstream-code", state=redirect.params["state"])

    assert _start_again_link(replayed) == auth.url
    assert len(upstream.calls) == calls_after_first
    assert User.objects.count() == 1 and UserSocialAuth.objects.count() == 1


def _begin_with(client, app, upstream, backend):
    mock_oidc_discovery(upstream)
    auth = authorize_url(app)
    return auth, begin(client, backend, auth)


def _assert_upstream_page(response, backend: str, auth) -> None:
    assert response.status_code == 502, response
    page = response.content.decode()
    assert f"{PROVIDER_NAMES[backend]} is not answering" in page and "Nothing was changed" in page
    assert f'href="{html.escape(auth.url)}">Try again</a>' in page
    assert _nothing_created()
    assert _refusal().outcome == "failure"


@pytest.mark.parametrize("backend", ["kakao", "google-oauth2", "facebook", "oidc"])
def test_it_shows_a_502_page_when_the_token_endpoint_answers_500(client, confidential_client, upstream, backend):
    auth, redirect = _begin_with(client, confidential_client, upstream, backend)
    upstream.add(responses.Response(method="GET" if backend == "facebook" else "POST", url=TOKEN_URLS[backend],
                                    status=500, body="<html>Internal Server Error</html>"))

    done = callback(client, backend, code="upstream-code", state=redirect.params["state"])

    _assert_upstream_page(done, backend, auth)


@pytest.mark.parametrize("backend", ["kakao", "google-oauth2", "facebook", "oidc"])
def test_it_shows_a_502_page_when_the_upstream_times_out(client, confidential_client, upstream, backend):
    auth, redirect = _begin_with(client, confidential_client, upstream, backend)
    upstream.add(responses.Response(method="GET" if backend == "facebook" else "POST", url=TOKEN_URLS[backend],
                                    body=requests.exceptions.ReadTimeout("read timed out")))

    done = callback(client, backend, code="upstream-code", state=redirect.params["state"])

    _assert_upstream_page(done, backend, auth)


@pytest.mark.parametrize("backend", ["kakao", "facebook"])
def test_it_shows_a_502_page_when_the_profile_endpoint_answers_garbage(client, confidential_client, upstream, backend):
    auth, redirect = _begin_with(client, confidential_client, upstream, backend)
    if backend == "kakao":
        mock_kakao(upstream, kakao_id=777008, email="erin@example.com")
    else:
        mock_facebook(upstream, facebook_id="10150000000001", email="erin@example.com")
    upstream.replace(responses.GET, PROFILE_URLS[backend], body="<html>Bad gateway</html>", status=200)

    done = callback(client, backend, code="upstream-code", state=redirect.params["state"])

    _assert_upstream_page(done, backend, auth)


def test_it_gives_up_on_every_upstream_call_after_the_configured_timeout(client, confidential_client, upstream):
    for backend, uid in (("kakao", "777009"), ("google-oauth2", "110000000000000000555"),
                         ("facebook", "10150000000002"), ("oidc", "sso-timeout")):
        federated_sign_in(Client(), confidential_client, upstream, backend, uid=uid, email=f"{uid}@example.com")
        assert upstream.calls
        for call in upstream.calls:
            assert call.request.req_kwargs["timeout"] == settings.SOCIAL_AUTH_REQUESTS_TIMEOUT == 5, call.request.url


def test_it_leaves_no_user_behind_when_a_late_pipeline_step_fails(client, confidential_client, upstream, monkeypatch):
    def broken(*args, **kwargs):
        raise AuthResponseError(None, "simulated", code="malformed_response", stage="pipeline")

    # After create_user and associate_user have run: the transaction rolls them back.
    monkeypatch.setattr("federation.pipeline.record_identity", broken)
    auth = authorize_url(confidential_client)
    redirect = begin(client, "kakao", auth)
    mock_kakao(upstream, kakao_id=777010, email="erin@example.com")

    done = callback(client, "kakao", code="upstream-code", state=redirect.params["state"])

    assert done.status_code == 502
    assert _nothing_created()
    assert "_auth_user_id" not in client.session


def test_it_refuses_a_disabled_account_with_a_page_saying_so(confidential_client, upstream):
    federated_sign_in(Client(), confidential_client, upstream, "kakao", uid="777011", email="erin@example.com")
    erin = User.objects.get()
    erin.is_active = False
    erin.save(update_fields=["is_active"])
    upstream.reset()
    mock_kakao(upstream, kakao_id=777011, email="erin@example.com")
    browser = Client()
    redirect = begin(browser, "kakao", authorize_url(confidential_client))

    done = callback(browser, "kakao", code="upstream-code", state=redirect.params["state"])

    assert done.status_code == 403
    assert "This account is disabled" in done.content.decode()
    assert "_auth_user_id" not in browser.session
    assert AuditEvent.objects.filter(event="login", user=erin).count() == 1  # only the first, enabled one
