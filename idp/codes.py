"""Authorization codes used twice: the second redemption revokes what the first issued.

RFC 6749 §4.1.2: "If an authorization code is used more than once, the authorization server MUST deny
the request and SHOULD revoke (when possible) all tokens previously issued based on that authorization
code." django-oauth-toolkit denies it but leaves the first tokens valid (GOTCHAS.md); it also deletes the
code on exchange, so each redemption is recorded here (idp.models.RedeemedCode).
"""

from __future__ import annotations

import hashlib
import uuid

from django.db import transaction
from oauth2_provider.models import get_access_token_model, get_refresh_token_model

from idp.models import AuditEvent, RedeemedCode
from idp.services import audit_record


def _checksum(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


def code_redeemed_record(*, code: str, application, user, access_token_id: int | None,
                         token_family: uuid.UUID | None) -> None:
    """Remember that `code` was exchanged, and for which tokens."""
    RedeemedCode.objects.create(
        code_checksum=_checksum(code),
        application=application,
        user=user,
        access_token_id=access_token_id,
        token_family=token_family,
    )


def code_reuse_revoke(*, code: str, application) -> bool:
    """If `application` already redeemed `code`, revoke every token that came from it; True if it had."""
    redeemed = RedeemedCode.objects.filter(code_checksum=_checksum(code), application=application).first()
    if redeemed is None:
        return False
    AccessToken, RefreshToken = get_access_token_model(), get_refresh_token_model()
    refresh_tokens = access_tokens = 0
    with transaction.atomic():
        if redeemed.token_family is not None:
            # The whole family: the first refresh token and every one rotated from it since.
            for refresh_token in RefreshToken.objects.select_for_update().filter(
                token_family=redeemed.token_family, revoked__isnull=True
            ):
                refresh_token.revoke()  # also deletes its access token
                refresh_tokens += 1
        if redeemed.access_token_id is not None:
            for access_token in AccessToken.objects.filter(pk=redeemed.access_token_id):
                access_token.revoke()
                access_tokens += 1
    audit_record(
        event="token.code_reused",
        outcome=AuditEvent.Outcome.REFUSED,
        user=redeemed.user,
        client_id=application.client_id,
        revoked_refresh_tokens=refresh_tokens,
        revoked_access_tokens=access_tokens,
    )
    return True
