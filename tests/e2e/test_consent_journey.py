"""A person's consent journey in a real browser, in English and in Korean: ask, remember, revoke, ask again."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image

from clients.models import Application
from clients.services import client_register
from tests.conftest import authorize_url, query_of
from tests.e2e.conftest import ARTIFACTS

TEXT = {
    "en-US": {
        "continue": "Continue with Development login",
        "sign_in": "Sign in",
        "email": "Email",
        "heading": "Wiki wants to access your Gatehouse account",
        "scope": "See your email address",
        "allow": "Allow",
        "revoke": "Revoke access for Wiki",
    },
    "ko-KR": {
        "continue": "개발용 로그인(으)로 계속하기",
        "sign_in": "로그인",
        "email": "이메일",
        "heading": "Wiki에서 Gatehouse 계정에 접근하려고 합니다",
        "scope": "이메일 주소 보기",
        "allow": "허용",
        "revoke": "Wiki의 접근 권한 철회",
    },
}


def _wiki(redirect_uri: str) -> object:
    registered = client_register(name="Wiki", redirect_uris=[redirect_uri], description="Team knowledge base")
    logo = io.BytesIO()
    Image.new("RGB", (64, 64), "#1f6feb").save(logo, "PNG")
    Application.objects.filter(pk=registered.application.pk).update(
        logo_image=logo.getvalue(), logo_content_type="image/png"
    )
    registered.application.redirect_uri = redirect_uri
    registered.application.client_secret = registered.client_secret
    return registered.application


def _shoot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("locale", ["en-US", "ko-KR"])
def test_it_asks_once_remembers_and_asks_again_after_revoke(gatehouse_url, new_page, locale):
    text, lang = TEXT[locale], locale[:2]
    # The demo callback page stands in for the client's own site (DEBUG is on for browser tests).
    callback = gatehouse_url + "/demo/callback"
    wiki = _wiki(callback)
    page = new_page(locale)

    page.goto(gatehouse_url + authorize_url(wiki).url)
    assert page.locator("html").get_attribute("lang") == lang
    assert page.locator(".client img.logo").is_visible()
    _shoot(page, f"login-{lang}.png")
    page.get_by_role("button", name=text["continue"]).click()
    page.get_by_label(text["email"], exact=True).fill("erin@example.com")
    page.get_by_role("button", name=text["sign_in"]).click()

    page.wait_for_url(re.compile(r"/o/authorize/\?"))
    assert page.locator("h1").inner_text() == text["heading"]
    assert text["scope"] in page.locator("ul.scopes").inner_text()
    logo = page.locator(".client img.logo")
    assert logo.get_attribute("src") == f"/clients/{wiki.client_id}/logo"
    assert logo.evaluate("img => img.naturalWidth") == 64  # the uploaded logo really renders
    _shoot(page, f"consent-{lang}.png")
    page.get_by_role("button", name=text["allow"]).click()
    page.wait_for_url(re.compile(re.escape(callback) + r"\?"))
    assert "code" in query_of(page.url) and query_of(page.url)["iss"] == gatehouse_url

    # Second time: remembered, no consent page.
    page.goto(gatehouse_url + authorize_url(wiki).url)
    page.wait_for_url(re.compile(re.escape(callback) + r"\?"))
    assert "code" in query_of(page.url)

    # Revoke on /account/, then the next sign-in asks again.
    page.goto(gatehouse_url + "/account/")
    _shoot(page, f"account-{lang}.png")
    page.get_by_role("button", name=text["revoke"]).click()
    page.wait_for_url(gatehouse_url + "/account/")
    page.goto(gatehouse_url + authorize_url(wiki).url)
    assert page.locator("h1").inner_text() == text["heading"]
