"""The Django admin for clients: registration through the service, secrets shown once, no token values."""

from __future__ import annotations

import io
import os
from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.auth.hashers import check_password
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone
from django.utils.crypto import get_random_string
from oauth2_provider.models import AccessToken, Grant, IDToken, RefreshToken, set_token_value
from PIL import Image

from clients.models import Application, Consent
from clients.services import LOGO_MAX_BYTES
from idp.models import AuditEvent, User

pytestmark = pytest.mark.django_db

ADD_URL = "/admin/clients/application/add/"
CHANGELIST_URL = "/admin/clients/application/"


def _image(fmt: str = "PNG", size: tuple[int, int] = (64, 64), noise: bool = False) -> bytes:
    pixels = os.urandom(size[0] * size[1] * 3) if noise else b"\x1f\x6f\xeb" * (size[0] * size[1])
    out = io.BytesIO()
    Image.frombytes("RGB", size, pixels).save(out, format=fmt)
    return out.getvalue()


@pytest.fixture
def root(db) -> User:
    return User.objects.create_user("root", "root@example.com", "pw", is_staff=True, is_superuser=True)


@pytest.fixture
def browser(root) -> Client:
    """A signed-in superuser's browser that enforces CSRF like a real one."""
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(root)
    return browser


def _submit(browser: Client, url: str, data: dict) -> object:
    page = browser.get(url)
    assert page.status_code == 200
    return browser.post(url, {**data, "csrfmiddlewaretoken": browser.cookies["csrftoken"].value})


def _wiki(**overrides) -> dict:
    return {
        "name": "Wiki",
        "grant": "authorization-code",
        "redirect_uris": "https://wiki.example.com/cb\nhttp://127.0.0.1:8080/cb",
        "post_logout_redirect_uris": "https://wiki.example.com/bye",
        "backchannel_logout_uri": "https://wiki.example.com/bcl",
        "scopes": ["openid", "email"],
        "trusted": "on",
        "allowed_upstreams": ["kakao", "google-oauth2"],
        "description": "The team wiki",
        "logo_url": "https://wiki.example.com/logo.png",
        "brand_color": "#1F6FEB",
        "homepage_url": "https://wiki.example.com/",
        "privacy_policy_url": "https://wiki.example.com/privacy",
        "terms_url": "https://wiki.example.com/terms",
        "contact_email": "wiki-team@example.com",
        "_save": "Save",
        **overrides,
    }


def _form_errors(response) -> dict[str, list[str]]:
    return {field: list(errors) for field, errors in response.context["adminform"].form.errors.items()}


# --- registering -----------------------------------------------------------------------------------


def test_it_registers_a_client_with_its_branding_and_shows_the_secret_once(browser, root):
    response = _submit(browser, ADD_URL, _wiki(logo_file=SimpleUploadedFile("logo.png", _image(), "image/png")))

    assert response.status_code == 200, _form_errors(response) if response.context else response
    app = Application.objects.get(name="Wiki")
    secret = response.context["secrets"][0][1]
    assert secret in response.content.decode() and app.client_id in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    assert check_password(secret, app.client_secret) and secret not in app.client_secret
    assert app.redirect_uris.split() == ["https://wiki.example.com/cb", "http://127.0.0.1:8080/cb"]
    assert app.post_logout_redirect_uris == "https://wiki.example.com/bye"
    assert app.trusted and app.allowed_scopes == {"openid", "email"} and app.upstreams == {"kakao", "google-oauth2"}
    assert (app.description, app.brand_color) == ("The team wiki", "#1F6FEB")
    assert app.contact_email == "wiki-team@example.com"
    assert app.logo_content_type == "image/png" and bytes(app.logo_image) == _image()
    assert app.client_type == "confidential" and app.algorithm == "RS256"
    assert AuditEvent.objects.get(event="client.registered", data__via="admin").user == root

    # Never again: not on the change page, the list, the history, nor kept in the session or a cookie.
    for url in (f"{CHANGELIST_URL}{app.pk}/change/", CHANGELIST_URL, f"{CHANGELIST_URL}{app.pk}/history/"):
        page = browser.get(url)
        assert page.status_code == 200 and secret not in page.content.decode(), url
    assert all(secret not in str(value) for value in browser.session.values())
    assert all(secret not in morsel.value for morsel in browser.cookies.values())


def test_it_registers_a_public_client_without_a_secret(browser):
    response = _submit(browser, ADD_URL, _wiki(name="SPA", public="on", redirect_uris="http://localhost:5173/cb"))

    assert response.status_code == 302
    app = Application.objects.get(name="SPA")
    assert app.client_type == "public" and app.client_secret == ""


@pytest.mark.parametrize(
    "uri, message",
    [("http://wiki.example.com/cb", "only for loopback"), ("https://wiki.example.com/cb#top", "fragment"),
     ("https://*.example.com/cb", "wildcards"), ("/cb", "absolute")],
)  # fmt: skip
def test_it_shows_redirect_uri_errors_on_the_field(browser, uri, message):
    response = _submit(browser, ADD_URL, _wiki(redirect_uris=uri))

    assert response.status_code == 200
    errors = _form_errors(response)
    assert list(errors) == ["redirect_uris"] and message in errors["redirect_uris"][0]
    assert not Application.objects.exists()


def test_it_shows_every_service_error_on_its_own_field(browser):
    response = _submit(browser, ADD_URL, _wiki(
        name="", scopes=["openid", "gatehouse:admin"], brand_color="blue", logo_url="http://cdn.example.com/l.png",
        post_logout_redirect_uris="https://wiki.example.com/#bye", contact_email="nope",
    ))  # fmt: skip

    assert response.status_code == 200
    assert set(_form_errors(response)) == {
        "name", "scopes", "brand_color", "logo_url", "post_logout_redirect_uris", "contact_email"
    }  # fmt: skip
    assert not Application.objects.exists()


@pytest.mark.parametrize(
    "name, content, content_type",
    [
        ("logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "image/svg+xml"),
        ("logo.png", b"\x89PNG\r\n\x1a\n" + b"not really a png" * 10, "image/png"),
        ("logo.bmp", _image("BMP"), "image/bmp"),
        ("logo.png", _image(size=(320, 320), noise=True), "image/png"),  # > 256 KB
        ("logo.png", _image(size=(3000, 10)), "image/png"),  # wider than 2048 px
    ],
    ids=["svg", "fake-png", "bmp", "too-large", "too-wide"],
)
def test_it_refuses_logos_that_are_not_small_png_jpeg_webp_or_gif_images(browser, name, content, content_type):
    response = _submit(browser, ADD_URL, _wiki(logo_file=SimpleUploadedFile(name, content, content_type)))

    assert response.status_code == 200
    assert list(_form_errors(response)) == ["logo_file"]
    assert not Application.objects.exists()


def test_the_oversized_logo_used_above_is_really_over_the_limit():
    assert len(_image(size=(320, 320), noise=True)) > LOGO_MAX_BYTES


@pytest.mark.parametrize("fmt, content_type", [("JPEG", "image/jpeg"), ("WEBP", "image/webp"), ("GIF", "image/gif")])
def test_it_accepts_jpeg_webp_and_gif_logos_and_serves_them(browser, client, fmt, content_type):
    # The browser's claimed type is ignored: the stored type comes from decoding the image.
    upload = SimpleUploadedFile("logo.bin", _image(fmt), "application/octet-stream")
    assert _submit(browser, ADD_URL, _wiki(logo_file=upload)).status_code == 200

    app = Application.objects.get(name="Wiki")
    assert app.logo_content_type == content_type
    served = client.get(app.logo_src)
    assert served.status_code == 200 and served["Content-Type"] == content_type


# --- changing, rotating, deleting ------------------------------------------------------------------


def test_it_changes_a_client_through_the_service_without_touching_its_secret(browser, confidential_client):
    app = confidential_client.application
    url = f"{CHANGELIST_URL}{app.pk}/change/"
    page = browser.get(url)
    assert app.client_secret not in page.content.decode() and "client_secret" not in page.content.decode()
    assert page.context["adminform"].form.initial["redirect_uris"] == "https://app.example.com/callback"

    response = _submit(browser, url, _wiki(name="Team wiki", redirect_uris="https://app.example.com/callback",
                                           scopes=["openid", "profile"], remove_logo="on"))  # fmt: skip

    assert response.status_code == 302, _form_errors(response)
    app.refresh_from_db()
    assert app.name == "Team wiki" and app.allowed_scopes == {"openid", "profile"} and app.trusted
    assert check_password(confidential_client.client_secret, app.client_secret)
    event = AuditEvent.objects.get(event="client.updated", data__via="admin")
    assert event.data["via"] == "admin" and "name" in event.data["fields"]


def test_it_rotates_secrets_with_the_admin_action_and_shows_them_once(browser, confidential_client, public_client):
    app = confidential_client.application
    response = _submit(browser, CHANGELIST_URL, {
        "action": "rotate_secret", "_selected_action": [app.pk, public_client.application.pk], "index": "0",
    })  # fmt: skip

    assert response.status_code == 200
    [(rotated, secret)] = response.context["secrets"]
    assert rotated.pk == app.pk and secret in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    app.refresh_from_db()
    assert check_password(secret, app.client_secret)
    assert not check_password(confidential_client.client_secret, app.client_secret)
    assert secret not in browser.get(CHANGELIST_URL).content.decode()
    assert AuditEvent.objects.filter(event="client.secret_rotated", client_id=app.client_id).count() == 1


def test_it_rotates_a_secret_from_the_change_page_button(browser, confidential_client):
    app = confidential_client.application
    change = browser.get(f"{CHANGELIST_URL}{app.pk}/change/").content.decode()
    rotate_url = f"{CHANGELIST_URL}{app.pk}/rotate-secret/"
    assert rotate_url in change

    response = _submit(browser, rotate_url, {})  # GET asks to confirm, POST rotates

    assert response.status_code == 200
    [(_, secret)] = response.context["secrets"]
    app.refresh_from_db()
    assert check_password(secret, app.client_secret)
    assert secret not in browser.get(rotate_url).content.decode()


def test_it_offers_no_rotation_for_a_public_client(browser, public_client):
    app = public_client.application
    assert "rotate-secret" not in browser.get(f"{CHANGELIST_URL}{app.pk}/change/").content.decode()
    response = browser.get(f"{CHANGELIST_URL}{app.pk}/rotate-secret/")
    assert response.status_code == 302 and app.client_secret == ""


def test_it_deletes_a_client_through_the_service(browser, confidential_client):
    app = confidential_client.application
    response = _submit(browser, f"{CHANGELIST_URL}{app.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not Application.objects.filter(pk=app.pk).exists()
    assert AuditEvent.objects.get(event="client.deleted", data__via="admin").data["name"] == "Wiki"


def test_it_refuses_the_rotate_button_to_staff_without_the_change_permission(db, confidential_client):
    viewer = User.objects.create_user("viewer", "viewer@example.com", "pw", is_staff=True)
    browser = Client()
    browser.force_login(viewer)
    app = confidential_client.application
    assert browser.post(f"{CHANGELIST_URL}{app.pk}/rotate-secret/").status_code == 403
    app.refresh_from_db()
    assert check_password(confidential_client.client_secret, app.client_secret)


# --- issued credentials and consents ---------------------------------------------------------------


@pytest.fixture
def issued(alice, confidential_client) -> dict[str, str]:
    """One of each credential django-oauth-toolkit issues, and the raw values that must never show."""
    app, expires = confidential_client.application, timezone.now() + timedelta(hours=1)
    raw_access, raw_refresh, code = get_random_string(40), get_random_string(40), get_random_string(30)
    id_token = IDToken.objects.create(user=alice, application=app, expires=expires, scope="openid")
    access = AccessToken(user=alice, application=app, expires=expires, scope="openid", id_token=id_token)
    set_token_value(access, raw_access)
    access.save()
    refresh = RefreshToken(user=alice, application=app, access_token=access)
    set_token_value(refresh, raw_refresh)
    refresh.save()
    Grant.objects.create(user=alice, application=app, code=code, expires=expires, code_challenge="x" * 43,
                         code_challenge_method="S256", redirect_uri=confidential_client.redirect_uri)  # fmt: skip
    access.refresh_from_db()
    refresh.refresh_from_db()
    return {"access": raw_access, "refresh": raw_refresh, "code": code,
            "access_checksum": access.token_checksum, "refresh_checksum": refresh.token_checksum}  # fmt: skip


@pytest.mark.parametrize("model", [AccessToken, RefreshToken, Grant, IDToken])
def test_it_never_shows_or_searches_token_values(browser, root, issued, model):
    model_admin = admin.site._registry[model]
    # The columns that hold a credential, its checksum, or what it was bound to; relations such as
    # `access_token` (shown as "AccessToken #1") are fine.
    value_columns = {"token", "token_checksum", "code", "code_challenge", "nonce", "claims"}
    assert not [f for f in model_admin.search_fields if f.split("__")[-1] in value_columns]
    assert not set(map(str, model_admin.list_display)) & {*value_columns, "masked_token", "masked_code"}
    request = browser.get("/admin/").wsgi_request
    obj = model.objects.get()
    assert not set(model_admin.get_fields(request, obj)) & value_columns

    base = f"/admin/oauth2_provider/{model._meta.model_name}/"
    listing = browser.get(base)
    detail = browser.get(f"{base}{obj.pk}/change/")
    assert listing.status_code == 200 and detail.status_code == 200
    for value in issued.values():
        assert value not in listing.content.decode() and value not in detail.content.decode()
        # Searching by a token value finds nothing (and the admin offers no such search).
        assert browser.get(base, {"q": value}).context["cl"].result_count == 0
    assert browser.get(base, {"q": "alice"}).context["cl"].result_count == 1  # by user it does
    assert not model_admin.has_add_permission(request) and not model_admin.has_change_permission(request, obj)


def test_it_revokes_access_tokens_from_the_admin(browser, issued):
    token = AccessToken.objects.get()
    response = _submit(browser, "/admin/oauth2_provider/accesstoken/",
                       {"action": "revoke_tokens", "_selected_action": [token.pk], "index": "0"})  # fmt: skip
    assert response.status_code == 302
    assert not AccessToken.objects.exists()
    assert RefreshToken.objects.get().revoked is not None


def test_it_shows_consents_read_only(browser, alice, confidential_client):
    consent = Consent.objects.create(user=alice, application=confidential_client.application, scopes="openid email")
    model_admin = admin.site._registry[Consent]
    request = browser.get("/admin/").wsgi_request

    listing = browser.get("/admin/clients/consent/", {"q": "alice"})
    assert listing.status_code == 200 and listing.context["cl"].result_count == 1
    assert browser.get(f"/admin/clients/consent/{consent.pk}/change/").status_code == 200
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, consent)
    assert not model_admin.has_delete_permission(request, consent)
