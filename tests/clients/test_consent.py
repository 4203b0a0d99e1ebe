"""Consent: remembered, asked again only for new scopes, revocable from /account/, branded."""

from __future__ import annotations

import base64
import io

import pytest
from django.test import Client
from PIL import Image

from clients.models import Application, Consent
from idp.models import AuditEvent
from tests.conftest import approve_consent, authorize_url, consent_form, dev_sign_in, exchange_code, query_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def carol_client(client):
    dev_sign_in(client, "carol@example.com", "Carol")
    return client


def _tokens(client, app, scope="openid profile email"):
    auth = authorize_url(app, scope=scope)
    params = query_of(approve_consent(client, auth.url))
    return exchange_code(client, app, params["code"], auth.verifier).json()


def _introspect(client, app, token):
    basic = base64.b64encode(f"{app.client_id}:{app.client_secret}".encode()).decode()
    return client.post("/o/introspect/", {"token": token}, HTTP_AUTHORIZATION=f"Basic {basic}").json()


@pytest.mark.spec("RFC 6749", "10.2", "Resource owner sees the client's identity before authorizing")
def test_it_shows_the_clients_branding_and_each_scope_in_plain_words(carol_client, confidential_client):
    app = Application.objects.get(client_id=confidential_client.client_id)
    app.description, app.privacy_policy_url, app.terms_url, app.brand_color = (
        "Team knowledge base", "https://app.example.com/privacy", "https://app.example.com/terms", "#112233"
    )
    app.save()
    page = carol_client.get(authorize_url(confidential_client).url).content.decode()
    assert "Wiki wants to access your Gatehouse account" in page
    assert 'src="https://app.example.com/logo.png"' in page and "Team knowledge base" in page
    assert "See your email address" in page and "See your name, profile picture and language" in page
    assert 'href="https://app.example.com/privacy"' in page and 'href="https://app.example.com/terms"' in page
    assert "Signed in as carol@example.com" in page and "Switch account" in page
    assert 'name="allow" value="1"' in page
    assert "#112233" in page


def test_it_remembers_consent_and_skips_the_page_next_time(carol_client, confidential_client):
    _tokens(carol_client, confidential_client)
    consent = Consent.objects.get(application__client_id=confidential_client.client_id)
    assert consent.scope_set == {"openid", "profile", "email"}
    response = carol_client.get(authorize_url(confidential_client).url)
    assert response.status_code == 302 and "code" in query_of(response["Location"])


def test_it_skips_the_page_for_fewer_scopes_than_granted(carol_client, confidential_client):
    _tokens(carol_client, confidential_client)
    response = carol_client.get(authorize_url(confidential_client, scope="openid email").url)
    assert response.status_code == 302 and "code" in query_of(response["Location"])


def test_it_asks_only_for_the_new_scopes(carol_client, confidential_client):
    _tokens(carol_client, confidential_client, scope="openid")
    page = carol_client.get(authorize_url(confidential_client, scope="openid email").url)
    assert page.status_code == 200
    html = page.content.decode()
    assert "It also asks to:" in html and "See your email address" in html
    assert "Sign you in with your Gatehouse account" not in html
    approve_consent(carol_client, authorize_url(confidential_client, scope="openid email").url)
    assert Consent.objects.get().scope_set == {"openid", "email"}


@pytest.mark.spec("RFC 6749", "4.1.2.1", "Denied request: no grant recorded")
def test_it_records_no_consent_when_the_person_denies(carol_client, confidential_client):
    auth = authorize_url(confidential_client)
    page = carol_client.get(auth.url)
    response = carol_client.post(auth.url, consent_form(page, allow=False))
    assert query_of(response["Location"])["error"] == "access_denied"
    assert not Consent.objects.exists()


@pytest.mark.spec("OIDC Core", "3.1.2.1", "prompt=none after remembered consent issues a code")
@pytest.mark.spec("OIDF", "oidcc-prompt-none-logged-in", "prompt=none when signed in with consent given")
def test_it_issues_a_code_silently_after_remembered_consent_with_prompt_none(carol_client, confidential_client):
    _tokens(carol_client, confidential_client)
    response = carol_client.get(authorize_url(confidential_client, prompt="none").url)
    assert "code" in query_of(response["Location"])


def test_it_lists_connected_apps_and_revoke_kills_their_tokens(carol_client, confidential_client):
    tokens = _tokens(carol_client, confidential_client)
    account = carol_client.get("/account/").content.decode()
    assert "Connected apps" in account and "Wiki" in account and "Revoke access for Wiki" in account
    response = carol_client.post(f"/account/apps/{confidential_client.client_id}/revoke/")
    assert response.status_code == 302
    assert not Consent.objects.exists()
    assert _introspect(carol_client, confidential_client, tokens["access_token"])["active"] is False
    refreshed = carol_client.post(
        "/o/token/",
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
         "client_id": confidential_client.client_id, "client_secret": confidential_client.client_secret},
    )  # fmt: skip
    assert refreshed.json()["error"] == "invalid_grant"
    assert AuditEvent.objects.filter(event="consent.revoked", client_id=confidential_client.client_id).exists()
    # The next sign-in asks again.
    assert carol_client.get(authorize_url(confidential_client).url).status_code == 200


def test_it_revokes_only_the_signed_in_persons_tokens(client, confidential_client):
    dev_sign_in(client, "dave@example.com", "Dave")
    dave_tokens = _tokens(client, confidential_client)
    # Carol in another browser: signing Dave out here would end his session, and its tokens with it.
    carol = Client()
    dev_sign_in(carol, "carol@example.com", "Carol")
    _tokens(carol, confidential_client)
    carol.post(f"/account/apps/{confidential_client.client_id}/revoke/")
    assert _introspect(client, confidential_client, dave_tokens["access_token"])["active"] is True
    assert Consent.objects.filter(user__email="dave@example.com").exists()


def test_it_refuses_revoke_by_get(carol_client, confidential_client):
    _tokens(carol_client, confidential_client)
    assert carol_client.get(f"/account/apps/{confidential_client.client_id}/revoke/").status_code == 405
    assert Consent.objects.exists()


def test_it_offers_only_the_upstreams_a_client_allows(client, confidential_client):
    Application.objects.filter(client_id=confidential_client.client_id).update(allowed_upstreams="google-oauth2")
    auth = authorize_url(confidential_client)
    login = client.get(client.get(auth.url)["Location"]).content.decode()
    assert 'action="/login/google-oauth2/"' in login
    assert 'action="/login/kakao/"' not in login and 'action="/login/dev/"' not in login


def test_it_sends_a_person_signed_in_with_another_upstream_back_to_sign_in(carol_client, confidential_client):
    Application.objects.filter(client_id=confidential_client.client_id).update(allowed_upstreams="google-oauth2")
    response = carol_client.get(authorize_url(confidential_client).url)
    assert response.status_code == 302 and response["Location"].startswith("/login/?next=")


def test_it_serves_an_uploaded_logo_from_the_database(client, confidential_client):
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, "PNG")
    Application.objects.filter(client_id=confidential_client.client_id).update(
        logo_image=buffer.getvalue(), logo_content_type="image/png"
    )
    app = Application.objects.get(client_id=confidential_client.client_id)
    assert app.logo_src == f"/clients/{app.client_id}/logo"
    response = client.get(app.logo_src)
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert response.content == buffer.getvalue()
    assert client.get("/clients/unknown/logo").status_code == 404


@pytest.mark.parametrize("path", ["/login/", "/o/authorize/"])
def test_it_forbids_framing_with_csp_and_sends_no_cross_site_referrer(client, path):
    response = client.get(path)
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
