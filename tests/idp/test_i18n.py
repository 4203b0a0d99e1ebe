"""Korean and English on every page a person sees: chosen from Accept-Language, or with the switcher."""

from __future__ import annotations

import pytest

from tests.conftest import authorize_url, dev_sign_in

pytestmark = pytest.mark.django_db


def test_it_speaks_korean_when_the_browser_asks_for_it(client):
    page = client.get("/login/", HTTP_ACCEPT_LANGUAGE="ko-KR,ko;q=0.9,en;q=0.5").content.decode()
    assert '<html lang="ko">' in page
    assert "카카오(으)로 계속하기" in page and "로그인" in page


def test_it_speaks_english_by_default(client):
    page = client.get("/login/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert '<html lang="en">' in page and "Continue with Kakao" in page


def test_it_switches_language_with_the_footer_form(client):
    response = client.post("/i18n/setlang/", {"language": "ko", "next": "/login/"})
    assert response.status_code == 302 and response["Location"] == "/login/"
    assert "카카오(으)로 계속하기" in client.get("/login/").content.decode()


def test_it_translates_the_consent_page_and_scope_descriptions(client, confidential_client):
    dev_sign_in(client, "carol@example.com")
    page = client.get(authorize_url(confidential_client).url, HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "Wiki에서 Gatehouse 계정에 접근하려고 합니다" in page
    assert "이메일 주소 보기" in page and 'name="allow"' in page and "허용" in page


def test_it_translates_error_pages(client):
    page = client.get("/nowhere/", HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert "찾을 수 없음" in page


def test_every_catalogue_entry_is_translated():
    from pathlib import Path

    po = (Path(__file__).resolve().parents[2] / "locale/ko/LC_MESSAGES/django.po").read_text()
    entries = po.split("\n\n")[1:]  # after the header
    # An untranslated entry ends in an empty msgstr (a translated one has text, or continuation lines).
    untranslated = [e for e in entries if e.rstrip().endswith(('msgstr ""', 'msgstr[0] ""'))]
    assert not untranslated, untranslated[:3]
    assert "#, fuzzy" not in "\n\n".join(entries)
