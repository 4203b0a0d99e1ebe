"""No secret in logs or error pages across the flows tests/idp/test_logging.py and tests/federation/test_logs.py
leave out: the session id, client credentials, the admin API's create and rotate, and error pages.

Every logger at DEBUG (the libraries that write secrets at DEBUG are pinned at INFO by the settings, and
tests/federation/test_logs.py checks that they stay so), every record formatted as production formats it.
"""

from __future__ import annotations

import base64
import json
import logging

import pytest
from django.conf import settings

from idp.logging import JsonFormatter
from tests.conftest import approve_consent, authorize_url, dev_sign_in, exchange_code, query_of

pytestmark = pytest.mark.django_db


def _basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def _written(caplog) -> str:
    plain = logging.Formatter(settings.LOGGING["formatters"]["plain"]["format"])
    json_lines = JsonFormatter()
    return "\n".join(f"{plain.format(r)}\n{json_lines.format(r)}" for r in caplog.records)


def test_it_logs_and_shows_no_secret_across_every_flow_and_error_page(client, confidential_client, service_client, caplog):
    caplog.set_level(logging.DEBUG)
    secrets: dict[str, str] = {
        "client secret": confidential_client.client_secret,
        "service client secret": service_client.client_secret,
    }
    pages: list[bytes] = []

    # Sign-in, code exchange, refresh, introspection, revocation.
    auth = authorize_url(confidential_client)
    dev_sign_in(client, "carol@example.com", "Carol", next_url=auth.url)
    secrets["session id"] = client.cookies[settings.SESSION_COOKIE_NAME].value
    code = query_of(approve_consent(client, auth.url))["code"]
    tokens = exchange_code(client, confidential_client, code, auth.verifier).json()
    basic = _basic(confidential_client.client_id, confidential_client.client_secret)
    renewed = client.post("/o/token/", {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
                          HTTP_AUTHORIZATION=basic).json()  # fmt: skip
    secrets |= {"authorization code": code, "access token": tokens["access_token"],
                "refresh token": tokens["refresh_token"], "ID token": tokens["id_token"],
                "rotated access token": renewed["access_token"], "rotated refresh token": renewed["refresh_token"],
                "PKCE verifier": auth.verifier}  # fmt: skip
    assert client.post("/o/introspect/", {"token": renewed["access_token"]}, HTTP_AUTHORIZATION=basic).json()["active"]
    client.post("/o/revoke_token/", {"token": renewed["refresh_token"]}, HTTP_AUTHORIZATION=basic)

    # Client credentials, then the admin API: create a client and rotate its secret.
    service = client.post("/o/token/", {"grant_type": "client_credentials"},
                          HTTP_AUTHORIZATION=_basic(service_client.client_id, service_client.client_secret)).json()  # fmt: skip
    secrets["client credentials access token"] = service["access_token"]
    admin = {"HTTP_AUTHORIZATION": f"Bearer {service['access_token']}"}
    created = client.post("/api/clients/", json.dumps({"name": "Reporter", "grant": "client-credentials",
                          "redirect_uris": [], "scopes": ["profile"]}), content_type="application/json", **admin)  # fmt: skip
    assert created.status_code == 201, created.content
    secrets["created client secret"] = created.json()["client_secret"]
    rotated = client.post(f"/api/clients/{created.json()['client_id']}/rotate-secret/", **admin)
    assert rotated.status_code == 200
    secrets["rotated client secret"] = rotated.json()["client_secret"]

    # Error pages and error responses, each carrying a secret in its request.
    pages += [
        exchange_code(client, confidential_client, code, auth.verifier).content,  # replayed code
        client.post("/o/token/", {"grant_type": "client_credentials"},
                    HTTP_AUTHORIZATION=_basic(confidential_client.client_id, "WRONG-SECRET-0123456789")).content,
        client.post("/o/token/", {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
                    HTTP_AUTHORIZATION=basic).content,  # reused rotated refresh token
        client.get("/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}").content,
        client.get(authorize_url(confidential_client, redirect_uri="https://evil.example.net/cb").url).content,
        client.get(f"/no-such-page/?code={code}&access_token={tokens['access_token']}").content,
        client.get(f"/complete/dev/?code={code}&state=UPSTREAM-STATE-forged").content,
        client.post(f"/api/clients/{created.json()['client_id']}/rotate-secret/",
                    HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}").content,  # not an admin token
    ]  # fmt: skip
    secrets["wrong client secret"] = "WRONG-SECRET-0123456789"
    secrets["upstream state"] = "UPSTREAM-STATE-forged"

    written = _written(caplog)
    assert "/o/token/" in written, "the capture works: request lines are logged"
    assert [name for name, value in secrets.items() if value in written] == []
    # The footer's language switcher carries the page's own URL back to the same browser (so switching
    # language keeps an authorization request); everything above it must show nothing secret.
    shown = "\n".join(page.decode(errors="replace").split("<footer>")[0] for page in pages)
    assert [name for name, value in secrets.items() if value in shown] == []
