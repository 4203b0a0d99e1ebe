"""The referrer policy must keep codes out of Referer headers without breaking the browser's own POSTs."""

from __future__ import annotations

import pytest
from django.test import Client


@pytest.fixture
def csrf_client() -> Client:
    return Client(enforce_csrf_checks=True)


def test_it_keeps_referrers_same_origin_on_the_login_page(csrf_client, db):
    page = csrf_client.get("/login/")
    # no-referrer would also hide the Origin of our own form posts: browsers then send `Origin: null`.
    assert page["Referrer-Policy"] == "same-origin"
    assert b'<meta name="referrer" content="same-origin">' in page.content


def test_it_accepts_a_login_post_with_the_origin_a_browser_sends(csrf_client, db):
    csrf_client.get("/login/")
    token = csrf_client.cookies["csrftoken"].value
    begin = csrf_client.post("/login/dev/", {"csrfmiddlewaretoken": token}, HTTP_ORIGIN="http://testserver")
    assert begin.status_code == 302 and begin["Location"].startswith("/federation/dev/?state=")


def test_it_refuses_a_login_post_with_a_null_origin(csrf_client, db):
    csrf_client.get("/login/")
    token = csrf_client.cookies["csrftoken"].value
    refused = csrf_client.post("/login/dev/", {"csrfmiddlewaretoken": token}, HTTP_ORIGIN="null")
    assert refused.status_code == 403
