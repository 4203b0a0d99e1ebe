"""The REST API under /api/ (INTERFACE.md): every operation, who may call it, and secrets shown once."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from django.utils.crypto import get_random_string
from oauth2_provider.models import AccessToken, set_token_value

from clients.models import Application
from clients.services import client_register
from idp.models import AuditEvent, User

pytestmark = pytest.mark.django_db

WIKI = {
    "name": "Wiki",
    "redirect_uris": ["https://wiki.example.com/cb", "http://127.0.0.1:8080/cb"],
    "grant": "authorization-code",
    "public": False,
    "trusted": True,
    "scopes": ["openid", "email"],
    "logo_url": "https://wiki.example.com/logo.png",
    "backchannel_logout_uri": "https://wiki.example.com/bcl",
    "post_logout_redirect_uris": ["https://wiki.example.com/bye"],
    "description": "The team wiki",
    "brand_color": "#1F6FEB",
    "homepage_url": "https://wiki.example.com/",
    "privacy_policy_url": "https://wiki.example.com/privacy",
    "terms_url": "https://wiki.example.com/terms",
    "contact_email": "wiki-team@example.com",
    "allowed_upstreams": ["google-oauth2", "kakao"],
}


def _token_request(client: Client, client_id: str, secret: str, scope: str | None = None):
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    data = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
    return client.post("/o/token/", data, HTTP_AUTHORIZATION=f"Basic {basic}")


def _bearer(client: Client, client_id: str, secret: str) -> dict[str, str]:
    response = _token_request(client, client_id, secret)
    assert response.status_code == 200, response.content
    return {"HTTP_AUTHORIZATION": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
def staff(db) -> User:
    return User.objects.create_user("root", "root@example.com", "pw", is_staff=True, is_superuser=True)


@pytest.fixture
def admin_auth(client, service_client) -> dict[str, str]:
    """The Authorization header of the admin service client (scope gatehouse:admin)."""
    return _bearer(client, service_client.client_id, service_client.client_secret)


def _post(client: Client, url: str, data, **headers):
    return client.post(url, json.dumps(data), content_type="application/json", **headers)


def _patch(client: Client, url: str, data, **headers):
    return client.patch(url, json.dumps(data), content_type="application/json", **headers)


# --- every documented operation --------------------------------------------------------------------


def test_it_creates_a_client_with_every_documented_field_and_answers_the_secret_once(
    client, admin_auth, service_client
):
    response = _post(client, "/api/clients/", WIKI, **admin_auth)

    assert response.status_code == 201, response.content
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    for field, value in WIKI.items():
        assert body[field] == value, field
    assert len(base64.urlsafe_b64decode(body["client_secret"] + "=")) == 32
    app = Application.objects.get(client_id=body["client_id"])
    assert app.client_secret != body["client_secret"] and body["client_secret"] not in app.client_secret
    assert app.trusted and app.allowed_scopes == {"openid", "email"} and app.upstreams == {"google-oauth2", "kakao"}
    assert app.algorithm == "RS256"
    event = AuditEvent.objects.get(event="client.registered", data__via="api")
    assert event.client_id == app.client_id and event.data["via"] == "api"
    assert event.data["by_client"] == service_client.client_id and event.user is None
    assert body["client_secret"] not in json.dumps(event.data)


def test_it_answers_a_null_secret_for_a_public_client(client, admin_auth):
    spa = {"name": "SPA", "redirect_uris": ["http://localhost:5173/cb"], "public": True}
    response = _post(client, "/api/clients/", spa, **admin_auth)
    assert response.status_code == 201, response.content
    assert response.json()["client_secret"] is None and response.json()["public"] is True
    # Defaults: a client may ask for openid profile email, never an admin scope.
    assert response.json()["scopes"] == ["openid", "profile", "email"]


def test_it_lists_clients_without_their_secrets(client, admin_auth, confidential_client, service_client):
    response = client.get("/api/clients/", **admin_auth)

    assert response.status_code == 200
    listed = {c["client_id"]: c for c in response.json()}
    assert set(listed) == {confidential_client.client_id, service_client.client_id}
    assert listed[confidential_client.client_id]["logo_url"] == "https://app.example.com/logo.png"
    assert listed[service_client.client_id]["grant"] == "client-credentials"
    text = response.content.decode()
    assert "client_secret" not in text and confidential_client.client_secret not in text
    assert confidential_client.application.client_secret not in text  # nor the hash


def test_it_reads_one_client_without_its_secret(client, admin_auth, confidential_client):
    response = client.get(f"/api/clients/{confidential_client.client_id}/", **admin_auth)

    assert response.status_code == 200
    body = response.json()
    assert body["client_id"] == confidential_client.client_id and body["name"] == "Wiki"
    assert body["redirect_uris"] == ["https://app.example.com/callback"]
    assert body["public"] is False and body["has_uploaded_logo"] is False and body["created"]
    assert "client_secret" not in body and confidential_client.client_secret not in response.content.decode()


def test_it_updates_only_the_fields_sent(client, admin_auth, confidential_client):
    url = f"/api/clients/{confidential_client.client_id}/"
    changes = {"name": "Team wiki", "redirect_uris": ["https://wiki.example.com/new"], "brand_color": "#123456",
               "allowed_upstreams": ["kakao"]}  # fmt: skip
    response = _patch(client, url, changes, **admin_auth)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["name"] == "Team wiki" and body["redirect_uris"] == ["https://wiki.example.com/new"]
    assert body["brand_color"] == "#123456" and body["allowed_upstreams"] == ["kakao"]
    assert body["logo_url"] == "https://app.example.com/logo.png"  # not sent, not changed
    assert "client_secret" not in body
    app = Application.objects.get(pk=confidential_client.application.pk)
    assert app.name == "Team wiki" and app.upstreams == {"kakao"}
    # The secret still works: an update never touches it.
    assert app.client_secret == confidential_client.application.client_secret
    event = AuditEvent.objects.get(event="client.updated", data__via="api")
    assert event.data["fields"] == ["allowed_upstreams", "brand_color", "name", "redirect_uris"]


def test_it_deletes_a_client_and_everything_issued_to_it(client, admin_auth, service_client):
    victim = client_register(name="Doomed bot", redirect_uris=[], grant="client-credentials", scopes=["openid"])
    token = _token_request(client, victim.application.client_id, victim.client_secret).json()["access_token"]
    url = f"/api/clients/{victim.application.client_id}/"

    response = client.delete(url, **admin_auth)

    assert response.status_code == 204
    assert not Application.objects.filter(pk=victim.application.pk).exists()
    assert client.get(url, **admin_auth).status_code == 404
    # Its token is gone: introspection (by the admin service client) says inactive.
    basic = base64.b64encode(f"{service_client.client_id}:{service_client.client_secret}".encode()).decode()
    introspected = client.post("/o/introspect/", {"token": token}, HTTP_AUTHORIZATION=f"Basic {basic}")
    assert introspected.status_code == 200 and introspected.json()["active"] is False
    assert AuditEvent.objects.get(event="client.deleted", data__via="api").client_id == victim.application.client_id


def test_it_rotates_a_secret_once_and_the_old_one_stops_working(client, admin_auth):
    bot = client_register(name="Reporter", redirect_uris=[], grant="client-credentials", scopes=["profile"])
    client_id, old_secret = bot.application.client_id, bot.client_secret

    response = client.post(f"/api/clients/{client_id}/rotate-secret/", **admin_auth)

    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    new_secret = response.json()["client_secret"]
    assert response.json()["client_id"] == client_id and new_secret != old_secret
    refused = _token_request(client, client_id, old_secret)
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    assert _token_request(client, client_id, new_secret).status_code == 200
    # Reading the client afterwards never shows it again.
    assert new_secret not in client.get(f"/api/clients/{client_id}/", **admin_auth).content.decode()
    event = AuditEvent.objects.get(event="client.secret_rotated", data__via="api")
    assert new_secret not in json.dumps(event.data) and old_secret not in json.dumps(event.data)


def test_it_refuses_to_rotate_a_public_client_secret(client, admin_auth, public_client):
    response = client.post(f"/api/clients/{public_client.client_id}/rotate-secret/", **admin_auth)
    assert response.status_code == 400
    assert response.json() == {"non_field_errors": ["Public clients have no secret."]}


# --- validation: 400 with field errors, never a 500 ------------------------------------------------


@pytest.mark.parametrize(
    "uri",
    ["http://wiki.example.com/cb", "https://wiki.example.com/cb#frag", "https://*.example.com/cb",
     "wiki.example.com/cb", "javascript:alert(1)"],
)  # fmt: skip
def test_it_refuses_unsafe_redirect_uris_with_a_field_error(client, admin_auth, uri):
    response = _post(client, "/api/clients/", {"name": "Wiki", "redirect_uris": [uri]}, **admin_auth)

    assert response.status_code == 400
    assert list(response.json()) == ["redirect_uris"] and uri in response.json()["redirect_uris"][0]
    assert not Application.objects.filter(name="Wiki").exists()


def test_it_reports_every_invalid_field_at_once(client, admin_auth):
    response = _post(client, "/api/clients/", {
        "name": " ", "redirect_uris": ["https://ok.example.com/cb"], "scopes": ["openid", "gatehouse:admin"],
        "logo_url": "http://cdn.example.com/logo.png", "brand_color": "blue", "contact_email": "nope",
        "allowed_upstreams": ["myspace"], "post_logout_redirect_uris": ["https://ok.example.com/#x"],
    }, **admin_auth)  # fmt: skip

    assert response.status_code == 400
    assert set(response.json()) == {
        "name", "scopes", "logo_url", "brand_color", "contact_email", "allowed_upstreams", "post_logout_redirect_uris"
    }  # fmt: skip
    assert "gatehouse:admin" in response.json()["scopes"][0]


def test_it_refuses_unknown_and_read_only_fields(client, admin_auth, confidential_client):
    misspelt = {"name": "Wiki", "redirect_uri": ["https://wiki.example.com/cb"]}
    created = _post(client, "/api/clients/", misspelt, **admin_auth)
    assert created.status_code == 400 and "redirect_uri" in created.json()

    url = f"/api/clients/{confidential_client.client_id}/"
    patched = _patch(client, url, {"client_secret": "chosen-by-me", "public": True}, **admin_auth)
    assert patched.status_code == 400 and set(patched.json()) == {"client_secret", "public"}


def test_it_validates_an_update_against_the_whole_client(client, admin_auth, service_client):
    # A client-credentials client turned into a browser client still may not hold the admin scope.
    url = f"/api/clients/{service_client.client_id}/"
    response = _patch(client, url, {"grant": "authorization-code", "redirect_uris": ["https://x.example.com/cb"]},
                      **admin_auth)  # fmt: skip
    assert response.status_code == 400 and "gatehouse:admin" in response.json()["scopes"][0]
    assert Application.objects.get(pk=service_client.application.pk).authorization_grant_type == "client-credentials"


@pytest.mark.parametrize(
    "body, content_type",
    [("{not json", "application/json"), ("[1, 2]", "application/json"), ('{"name": null}', "application/json"),
     ('{"name": "x", "redirect_uris": "https://a.example.com/cb"}', "application/json"),
     ("name=Wiki", "application/x-www-form-urlencoded")],
)  # fmt: skip
def test_it_answers_malformed_requests_with_a_client_error(client, admin_auth, body, content_type):
    response = client.post("/api/clients/", body, content_type=content_type, **admin_auth)
    assert response.status_code in (400, 415)
    assert response["Content-Type"] == "application/json"


def test_it_answers_404_for_an_unknown_client(client, admin_auth):
    for response in (
        client.get("/api/clients/no-such-client/", **admin_auth),
        _patch(client, "/api/clients/no-such-client/", {"name": "x"}, **admin_auth),
        client.delete("/api/clients/no-such-client/", **admin_auth),
        client.post("/api/clients/no-such-client/rotate-secret/", **admin_auth),
    ):
        assert response.status_code == 404 and response.json() == {"detail": "No Application matches the given query."}


# --- who may call it ---------------------------------------------------------------------------------


def test_it_answers_401_without_a_token(client, confidential_client):
    for response in (
        client.get("/api/clients/"),
        client.get(f"/api/clients/{confidential_client.client_id}/"),
        client.post(f"/api/clients/{confidential_client.client_id}/rotate-secret/"),
        client.get("/api/clients/", HTTP_AUTHORIZATION="Bearer not-a-real-token"),
    ):
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")


def test_it_answers_403_to_a_token_without_the_admin_scope(client, confidential_client):
    reporter = client_register(name="Reporter", redirect_uris=[], grant="client-credentials", scopes=["profile"])
    headers = _bearer(client, reporter.application.client_id, reporter.client_secret)

    assert client.get("/api/clients/", **headers).status_code == 403
    assert _post(client, "/api/clients/", {"name": "Evil", "redirect_uris": ["https://evil.example.com/cb"]},
                 **headers).status_code == 403  # fmt: skip
    assert client.post(f"/api/clients/{confidential_client.client_id}/rotate-secret/", **headers).status_code == 403
    assert not Application.objects.filter(name="Evil").exists()


def test_it_answers_403_to_a_staff_members_sign_in_token(client, staff, trusted_client):
    """A token's scope decides, never its user: a staff member's token for some app does not open the API."""
    raw = get_random_string(40)
    token = AccessToken(user=staff, application=trusted_client.application, scope="openid profile email",
                        expires=timezone.now() + timedelta(hours=1))  # fmt: skip
    set_token_value(token, raw)  # as django-oauth-toolkit issues it: only a checksum is stored
    token.save()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    assert client.get("/o/userinfo/", **headers).status_code == 200  # a working token

    assert client.get("/api/clients/", **headers).status_code == 403
    assert client.post(f"/api/clients/{trusted_client.client_id}/rotate-secret/", **headers).status_code == 403


def _csrf_client(user: User) -> tuple[Client, str]:
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    token = get_random_string(32)
    browser.cookies["csrftoken"] = token
    return browser, token


def test_it_accepts_a_staff_session_with_its_csrf_token(staff):
    browser, csrf = _csrf_client(staff)

    created = _post(browser, "/api/clients/", {"name": "Wiki", "redirect_uris": ["https://wiki.example.com/cb"]},
                    HTTP_X_CSRFTOKEN=csrf)  # fmt: skip

    assert created.status_code == 201, created.content
    assert created.json()["client_secret"]
    assert browser.get("/api/clients/").status_code == 200  # reading needs no CSRF token
    event = AuditEvent.objects.get(event="client.registered", data__via="api")
    assert event.user == staff and "by_client" not in event.data


def test_it_refuses_a_staff_session_without_its_csrf_token(staff, confidential_client):
    browser, _csrf = _csrf_client(staff)

    created = _post(browser, "/api/clients/", {"name": "Wiki", "redirect_uris": ["https://wiki.example.com/cb"]})
    rotated = browser.post(f"/api/clients/{confidential_client.client_id}/rotate-secret/")
    deleted = browser.delete(f"/api/clients/{confidential_client.client_id}/", HTTP_X_CSRFTOKEN="wrong" * 8)

    for response in (created, rotated, deleted):
        assert response.status_code == 403 and "CSRF" in response.json()["detail"]
    assert list(Application.objects.values_list("name", flat=True)) == ["Wiki"]  # only the fixture's


def test_it_refuses_a_session_of_someone_who_is_not_staff(alice):
    browser, csrf = _csrf_client(alice)
    assert browser.get("/api/clients/").status_code == 403
    response = _post(browser, "/api/clients/", {"name": "Wiki", "redirect_uris": ["https://wiki.example.com/cb"]},
                     HTTP_X_CSRFTOKEN=csrf)  # fmt: skip
    assert response.status_code == 403 and not Application.objects.exists()


def test_it_gives_a_staff_session_only_what_its_admin_permissions_allow(db, confidential_client):
    viewer = User.objects.create_user("viewer", "viewer@example.com", "pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_application"))
    browser, csrf = _csrf_client(viewer)

    assert browser.get("/api/clients/").status_code == 200
    rotated = browser.post(f"/api/clients/{confidential_client.client_id}/rotate-secret/", HTTP_X_CSRFTOKEN=csrf)
    deleted = browser.delete(f"/api/clients/{confidential_client.client_id}/", HTTP_X_CSRFTOKEN=csrf)
    assert rotated.status_code == 403 and deleted.status_code == 403
    assert Application.objects.filter(pk=confidential_client.application.pk).exists()


# --- the schema and its docs ----------------------------------------------------------------------


def test_it_publishes_an_openapi_schema_that_validates_without_warnings(tmp_path: Path):
    out = tmp_path / "schema.json"
    # --fail-on-warn: drf-spectacular raises on any warning; --validate: against the OpenAPI 3 JSON schema.
    call_command("spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", "--file", str(out))
    schema = json.loads(out.read_text())

    assert schema["openapi"].startswith("3.")
    operations = {
        (path, method): operation["operationId"]
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    }
    assert operations == {
        ("/api/clients/", "get"): "clients_list",
        ("/api/clients/", "post"): "clients_create",
        ("/api/clients/{client_id}/", "get"): "clients_retrieve",
        ("/api/clients/{client_id}/", "patch"): "clients_update",
        ("/api/clients/{client_id}/", "delete"): "clients_delete",
        ("/api/clients/{client_id}/rotate-secret/", "post"): "clients_rotate_secret",
    }
    assert schema["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"]["scopes"] == {
        "gatehouse:admin": "Manage Gatehouse clients"
    }
    assert "client_secret" not in schema["components"]["schemas"]["Client"]["properties"]


def test_it_serves_the_schema_and_swagger_ui_from_its_own_files(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200 and "/api/clients/" in schema.json()["paths"]

    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "cdn.jsdelivr.net" not in html
    bundle = "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js"
    assert bundle in html
    assert client.get(bundle).status_code == 200
    # Its script is a file of ours, not inline: the CSP allows scripts from 'self' only.
    assert "script-src 'self'" in docs["Content-Security-Policy"]
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200 and b"SwaggerUIBundle" in script.content
