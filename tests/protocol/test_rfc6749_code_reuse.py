"""A reused authorization code revokes the tokens of its first redemption (RFC 6749 §4.1.2, RFC 9700 §4.2.4)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from idp.models import AuditEvent, RedeemedCode
from tests.conftest import approve_consent, authorize_url, dev_sign_in, exchange_code, query_of


def _tokens_and_code(client, app):
    dev_sign_in(client, "carol@example.com", "Carol")
    auth = authorize_url(app)
    code = query_of(approve_consent(client, auth.url))["code"]
    first = exchange_code(client, app, code, auth.verifier)
    assert first.status_code == 200
    return auth, code, first.json()


def _active(client, app, token: str) -> bool:
    response = client.post("/o/introspect/", {"token": token, "client_id": app.client_id, "client_secret": app.client_secret})
    return response.json()["active"]


def _refresh(client, app, refresh_token: str):
    return client.post("/o/token/", {"grant_type": "refresh_token", "refresh_token": refresh_token,
                                     "client_id": app.client_id, "client_secret": app.client_secret})


@pytest.mark.spec("RFC 6749", "4.1.2", "Code reuse: revoke the tokens issued from the code (SHOULD)")
@pytest.mark.spec("RFC 9700", "4.2.4", "Code replay revokes the tokens already issued")
@pytest.mark.spec("OIDF", "oidcc-codereuse-30seconds", "Reused code revokes the first exchange's access token")
@pytest.mark.django_db
def test_it_revokes_the_first_tokens_and_their_rotations_when_a_code_is_reused(client, confidential_client):
    auth, code, first = _tokens_and_code(client, confidential_client)
    rotated = _refresh(client, confidential_client, first["refresh_token"]).json()
    assert _active(client, confidential_client, rotated["access_token"])

    again = exchange_code(client, confidential_client, code, auth.verifier)

    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert not _active(client, confidential_client, first["access_token"])
    assert not _active(client, confidential_client, rotated["access_token"])
    assert _refresh(client, confidential_client, rotated["refresh_token"]).json()["error"] == "invalid_grant"
    event = AuditEvent.objects.get(event="token.code_reused")
    assert event.outcome == AuditEvent.Outcome.REFUSED
    assert event.client_id == confidential_client.client_id
    assert event.user.email == "carol@example.com"
    assert event.data["revoked_refresh_tokens"] == 1


@pytest.mark.django_db
def test_it_keeps_only_a_checksum_of_the_redeemed_code(client, confidential_client):
    _auth, code, first = _tokens_and_code(client, confidential_client)
    row = RedeemedCode.objects.get()
    assert code not in row.code_checksum and len(row.code_checksum) == 64
    assert row.access_token_id is not None and row.token_family is not None


@pytest.mark.spec("RFC 6749", "4.1.3", "Code bound to the client it was issued to")
@pytest.mark.django_db
def test_it_leaves_tokens_alone_when_another_client_presents_the_code(client, confidential_client, trusted_client):
    auth, code, first = _tokens_and_code(client, confidential_client)
    stolen = client.post("/o/token/", {
        "grant_type": "authorization_code", "code": code, "redirect_uri": trusted_client.redirect_uri,
        "code_verifier": auth.verifier, "client_id": trusted_client.client_id, "client_secret": trusted_client.client_secret,
    })  # fmt: skip
    assert stolen.status_code == 400
    assert _active(client, confidential_client, first["access_token"])
    assert not AuditEvent.objects.filter(event="token.code_reused").exists()


@pytest.mark.django_db
def test_it_clears_redeemed_codes_once_their_tokens_cannot_be_alive(client, confidential_client):
    _tokens_and_code(client, confidential_client)
    call_command("cleartokens")
    assert RedeemedCode.objects.count() == 1
    RedeemedCode.objects.update(redeemed_at=timezone.now() - timedelta(days=31))
    call_command("cleartokens")
    assert RedeemedCode.objects.count() == 0
