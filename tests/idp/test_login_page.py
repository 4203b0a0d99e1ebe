"""The login page: one POST form per offered upstream, branded for the client, no open redirects."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.conftest import authorize_url, dev_sign_in

pytestmark = pytest.mark.django_db


def test_it_offers_one_post_form_per_configured_upstream(client):
    page = client.get("/login/").content.decode()
    for backend in ("google-oauth2", "kakao", "facebook", "oidc", "dev"):
        assert f'action="/login/{backend}/"' in page
    assert page.count('<form method="post" action="/login/') == 5
    assert "Continue with Example SSO" in page  # GATEHOUSE_OIDC_UPSTREAM_NAME


def test_it_answers_405_to_a_get_on_an_upstream_login(client):
    assert client.get("/login/kakao/").status_code == 405


def test_it_brands_the_page_for_the_client_behind_next(client, confidential_client):
    auth = authorize_url(confidential_client)
    page = client.get("/login/?next=" + quote(auth.url)).content.decode()
    assert "Sign in to continue to Wiki" in page
    assert 'name="next"' in page


@pytest.mark.parametrize("target", ["https://evil.example.net/", "//evil.example.net/", "javascript:alert(1)"])
def test_it_drops_next_urls_that_leave_the_site(client, target):
    page = client.get("/login/?next=" + quote(target)).content.decode()
    assert 'name="next" value="/' not in page.split('class="language"')[0]  # no next on the upstream forms
    assert f'value="{target}"' not in page and f'href="{target}"' not in page


def test_it_does_not_follow_an_offsite_next_after_sign_in(client):
    response = dev_sign_in(client, "carol@example.com", next_url="https://evil.example.net/")
    assert response.status_code == 302 and "evil.example.net" not in response["Location"]


def test_it_requires_csrf_on_the_upstream_login_forms(db):
    from django.test import Client

    csrf_client = Client(enforce_csrf_checks=True)
    response = csrf_client.post("/login/dev/")
    assert response.status_code == 403
    assert b"Please try again" in response.content


def test_it_sets_safe_session_cookie_flags(client):
    response = dev_sign_in(client, "carol@example.com")
    cookie = response.cookies["sessionid"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
