"""The login page in a real Chromium: every offered upstream in its brand style, saved as a screenshot."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest

from tests.conftest import authorize_url

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
WIKI_LOGO = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 48 48"><rect width="48" height="48" rx="10" fill="#0b7a75"/>'
    '<text x="24" y="33" font-size="26" font-family="sans-serif" fill="#fff" text-anchor="middle">W</text></svg>'
)

# Each provider's brand guideline: Kakao yellow with dark text, Google white with a grey outline,
# Facebook blue with white text.
BRAND_STYLES = {
    "kakao": {"background-color": "rgb(254, 229, 0)", "color": "rgba(0, 0, 0, 0.85)"},
    "google-oauth2": {"background-color": "rgb(255, 255, 255)", "color": "rgb(31, 31, 31)",
                      "border-top-color": "rgb(116, 119, 117)"},
    "facebook": {"background-color": "rgb(24, 119, 242)", "color": "rgb(255, 255, 255)"},
}


@pytest.mark.django_db(transaction=True)
def test_it_shows_every_provider_in_its_brand_style(gatehouse_url, browser_page, confidential_client):
    page = browser_page
    auth = authorize_url(confidential_client)
    # The client's logo lives on its own (fictional) site: serve one, so the screenshot shows the branding.
    page.route("https://app.example.com/**", lambda route: route.fulfill(content_type="image/svg+xml", body=WIKI_LOGO))

    page.goto(f"{gatehouse_url}/login/?next={quote(auth.url)}")

    assert page.locator("h1").inner_text() == "Sign in to continue to Wiki"
    buttons = page.locator("button[data-backend]")
    backends = [buttons.nth(i).get_attribute("data-backend") for i in range(buttons.count())]
    assert backends == ["kakao", "google-oauth2", "facebook", "oidc", "dev"]
    for backend, expected in BRAND_STYLES.items():
        button = page.locator(f'button[data-backend="{backend}"]')
        styles = button.evaluate(
            "(el, names) => Object.fromEntries(names.map(n => [n, getComputedStyle(el).getPropertyValue(n)]))",
            list(expected),
        )
        assert styles == expected, backend
        # The provider's mark, drawn (not a broken image) and beside the label.
        icon = button.locator("svg.provider-icon")
        assert icon.count() == 1 and icon.bounding_box()["width"] >= 16
    assert page.get_by_role("button", name="Continue with Kakao").is_visible()
    assert page.get_by_role("button", name="Continue with Example SSO").is_visible()

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "login.png"), full_page=True)
    assert (ARTIFACTS / "login.png").stat().st_size > 10_000
