"""What `make run` promises, in a real browser: the demo authorize URL signs in through the development upstream."""

from __future__ import annotations

import io
import re

import pytest
import requests
from django.core.management import call_command

from tests.conftest import query_of


def _demo() -> dict[str, str]:
    """Run `manage.py demo` as `make run` does and read what it prints."""
    out = io.StringIO()
    call_command("demo", stdout=out)
    printed = out.getvalue()
    found = {
        name: re.search(rf"^\s*{name}:\s+(\S+)", printed, re.MULTILINE).group(1)
        for name in ("client_id", "client_secret", "code_verifier")
    }
    found["authorize_url"] = re.search(r"^\s*(http\S+/o/authorize/\?\S+)$", printed, re.MULTILINE).group(1)
    return found


@pytest.mark.django_db(transaction=True)
def test_it_signs_in_to_the_demo_app_in_a_browser(gatehouse_url, browser_page):
    page = browser_page
    demo = _demo()
    assert demo["authorize_url"].startswith(gatehouse_url + "/o/authorize/?")

    page.goto(demo["authorize_url"])
    assert page.url.startswith(gatehouse_url + "/login/?next=")
    assert page.locator("h1").inner_text() == "Sign in to continue to Gatehouse demo app"
    page.get_by_role("button", name="Continue with Development login").click()

    page.wait_for_url(re.compile(r"/federation/dev/\?state="))
    cookies = {cookie["name"]: cookie for cookie in page.context.cookies()}
    assert cookies["sessionid"]["httpOnly"] is True
    assert cookies["sessionid"]["sameSite"] == "Lax"
    assert cookies["sessionid"]["secure"] is False  # plain http in development: Secure would never come back
    assert cookies["csrftoken"]["sameSite"] == "Lax"
    page.get_by_label("Email", exact=True).fill("dana@example.com")
    page.get_by_label("Name", exact=True).fill("Dana Choi")
    assert page.get_by_label("The upstream verified this email").is_checked()
    page.get_by_role("button", name="Sign in").click()

    page.wait_for_url(re.compile(r"/o/authorize/\?"))
    assert page.locator("h1").inner_text() == "Gatehouse demo app wants to access your Gatehouse account"
    assert "Signed in as dana@example.com" in page.locator(".signed-in").inner_text()
    scopes = page.locator("ul.scopes li").all_inner_texts()
    assert scopes == [
        "Sign you in with your Gatehouse account",
        "See your name, profile picture and language",
        "See your email address",
    ]
    page.screenshot(path="/tmp/consent.png", full_page=True)
    page.get_by_role("button", name="Allow").click()

    page.wait_for_url(re.compile(r"/demo/callback\?"))
    assert page.url.startswith(gatehouse_url + "/demo/callback?")
    received = dict(zip(page.locator("#params dt").all_inner_texts(), page.locator("#params dd").all_inner_texts()))
    assert received["iss"] == gatehouse_url
    assert received["code"] == query_of(page.url)["code"]
    assert received["state"] == query_of(demo["authorize_url"])["state"]

    # The code the page shows works with the credentials `make run` printed.
    with requests.Session() as http:
        token = http.post(
            f"{gatehouse_url}/o/token/",
            auth=(demo["client_id"], demo["client_secret"]),
            data={
                "grant_type": "authorization_code",
                "code": received["code"],
                "redirect_uri": f"{gatehouse_url}/demo/callback",
                "code_verifier": demo["code_verifier"],
            },
        )
    assert token.status_code == 200, token.text
    assert token.json()["id_token"]
