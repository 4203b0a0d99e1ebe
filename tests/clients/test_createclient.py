"""`createclient` as INTERFACE.md promises it, and how client secrets are kept."""

from __future__ import annotations

import base64
import json

import pytest
from django.contrib.auth.hashers import identify_hasher
from django.core.management import CommandError, call_command

from clients.models import Application


def _run(*args) -> str:
    from io import StringIO

    out = StringIO()
    call_command("createclient", *args, stdout=out)
    return out.getvalue()


def _token(client, client_id, secret, scope=None):
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    data = {"grant_type": "client_credentials"}
    if scope:
        data["scope"] = scope
    return client.post("/o/token/", data, HTTP_AUTHORIZATION=f"Basic {basic}")


@pytest.mark.django_db
def test_it_prints_exactly_one_json_object_with_the_secret_once():
    out = _run("--name", "Wiki", "--redirect-uri", "https://wiki.example.com/cb", "--json")
    data = json.loads(out)
    assert set(data) == {"client_id", "client_secret"}
    app = Application.objects.get(client_id=data["client_id"])
    # Stored hashed with the fast keyed hasher, never in cleartext.
    assert data["client_secret"] not in app.client_secret
    assert identify_hasher(app.client_secret).algorithm == "gatehouse_sha256"
    assert len(base64.urlsafe_b64decode(data["client_secret"] + "=")) == 32  # 256 bits


@pytest.mark.django_db
def test_it_registers_a_public_client_without_a_secret():
    data = json.loads(_run("--name", "SPA", "--redirect-uri", "http://127.0.0.1:5173/cb", "--public", "--json"))
    assert data["client_secret"] is None
    app = Application.objects.get(client_id=data["client_id"])
    assert app.client_type == "public" and app.client_secret == ""


@pytest.mark.django_db
def test_it_accepts_every_documented_option():
    data = json.loads(_run(
        "--name", "Portal", "--redirect-uri", "https://portal.example.com/a", "--redirect-uri",
        "https://portal.example.com/b", "--trusted", "--scope", "openid email", "--logo-url",
        "https://portal.example.com/logo.png", "--backchannel-logout-uri", "https://portal.example.com/bcl",
        "--post-logout-redirect-uri", "https://portal.example.com/bye", "--json",
    ))  # fmt: skip
    app = Application.objects.get(client_id=data["client_id"])
    assert app.redirect_uris.split() == ["https://portal.example.com/a", "https://portal.example.com/b"]
    assert app.trusted and app.allowed_scopes == {"openid", "email"}
    assert app.logo_url == "https://portal.example.com/logo.png"
    assert app.backchannel_logout_uri == "https://portal.example.com/bcl"
    assert app.post_logout_redirect_uris == "https://portal.example.com/bye"
    assert app.algorithm == "RS256"


@pytest.mark.django_db
def test_it_prints_human_readable_output_without_json():
    out = _run("--name", "Wiki", "--redirect-uri", "https://wiki.example.com/cb")
    assert "client_id:" in out and "client_secret:" in out and "shown only now" in out


@pytest.mark.django_db
@pytest.mark.parametrize(
    "uri",
    ["http://wiki.example.com/cb", "https://wiki.example.com/cb#frag", "https://*.example.com/cb", "wiki.example.com/cb"],
)
def test_it_refuses_unsafe_redirect_uris(uri):
    with pytest.raises(CommandError):
        _run("--name", "Wiki", "--redirect-uri", uri)
    assert not Application.objects.exists()


@pytest.mark.django_db
def test_it_refuses_the_admin_scope_for_browser_clients():
    with pytest.raises(CommandError, match="gatehouse:admin"):
        _run("--name", "Wiki", "--redirect-uri", "https://wiki.example.com/cb", "--scope", "openid gatehouse:admin")


@pytest.mark.spec("RFC 6749", "4.4", "Client credentials grant")
@pytest.mark.django_db
def test_it_issues_client_credentials_tokens_to_a_service_client(client):
    data = json.loads(_run("--name", "Bot", "--grant", "client-credentials", "--scope", "gatehouse:admin", "--json"))
    response = _token(client, data["client_id"], data["client_secret"])
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["scope"] == "gatehouse:admin" and "refresh_token" not in body and "id_token" not in body


@pytest.mark.spec("RFC 6749", "5.2", "Wrong client secret → invalid_client")
@pytest.mark.django_db
def test_it_answers_invalid_client_to_a_wrong_service_secret(client, service_client):
    response = _token(client, service_client.client_id, service_client.client_secret + "x")
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


@pytest.mark.spec("RFC 6749", "3.3", "Unregistered scope → invalid_scope")
@pytest.mark.django_db
def test_it_refuses_client_credentials_for_scopes_not_registered(client, service_client):
    response = _token(client, service_client.client_id, service_client.client_secret, scope="openid profile")
    assert response.status_code == 400 and response.json()["error"] == "invalid_scope"
