"""Writes of the federation app: linked identities and the account they belong to."""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.models import update_last_login
from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext as _
from oauth2_provider.models import get_access_token_model, get_grant_model, get_id_token_model, get_refresh_token_model
from social_core.backends.utils import load_backends
from social_django.models import UserSocialAuth
from social_django.utils import load_strategy

from federation.providers import PROVIDERS, UpstreamTokenRejected
from idp.models import AuditEvent, User
from idp.services import audit_record

class IdentityError(Exception):
    """An unlink the rules refuse; the message is for the person."""


def identity_record_use(*, identity: UserSocialAuth, email: str, email_verified: bool) -> None:
    """Note that the person just used this identity, and with which email.

    This is all an identity keeps in `extra_data`: what /account/ shows, never a credential. (social-core's
    `load_extra_data` would add the upstream access and refresh tokens, so it is not in the pipeline.)
    """
    identity.extra_data = {"email": email, "email_verified": email_verified, "auth_time": int(time.time())}
    identity.save(update_fields=["extra_data", "modified"])


def identity_unlink(*, user: User, identity_id: int, request: HttpRequest | None = None) -> UserSocialAuth:
    """Remove one of the person's identities; never the last, or they could not sign in again."""
    with transaction.atomic():
        # Locking every identity of the person: two unlinks at once must not remove the last two.
        identities = list(UserSocialAuth.objects.select_for_update().filter(user=user).order_by("pk"))
        identity = next((i for i in identities if i.pk == identity_id), None)
        if identity is None:
            raise IdentityError(_("That sign-in method is not linked to your account."))
        is_last = len(identities) == 1
        if not is_last:
            identity.delete()
            audit_record(event="identity.unlinked", request=request, user=user, provider=identity.provider)
    if is_last:
        audit_record(event="identity.unlink_refused", request=request, user=user, provider=identity.provider,
                     outcome=AuditEvent.Outcome.REFUSED, reason="last_identity")
        raise IdentityError(_("You cannot remove your only sign-in method: you could not sign in again."))
    return identity


def account_delete(*, user: User, request: HttpRequest | None = None) -> None:
    """Delete the person: sign them out, revoke every token they gave any client, remove the user row.

    The audit event keeps the opaque `sub` (never the email) so the deletion can be traced later.
    """
    sub = user.sub
    if request is not None:
        # First, while the user still exists: whatever listens to a logout (back-channel logout) can run.
        logout(request)
    with transaction.atomic():
        # Revoked explicitly rather than left to the cascade: revoke() is what ends a token in DOT.
        for refresh_token in get_refresh_token_model().objects.filter(user=user, revoked__isnull=True):
            refresh_token.revoke()
        get_access_token_model().objects.filter(user=user).delete()
        get_id_token_model().objects.filter(user=user).delete()
        get_grant_model().objects.filter(user=user).delete()
        user.delete()
        audit_record(event="account.deleted", request=request, sub=sub)


def upstream_token_sign_in(*, backend_name: str, token: str, client_id: str, request: HttpRequest) -> User:
    """The person an upstream access token belongs to, signed in through the usual pipeline.

    The provider must first confirm the token was issued to our app there (providers.py,
    `token_owner`); only then is the profile fetched and the linking policy applied, in one transaction.
    Raises UpstreamTokenRejected, or social-core's exceptions when the upstream fails.
    """
    provider = PROVIDERS.get(backend_name)
    configured = load_backends(settings.AUTHENTICATION_BACKENDS)
    if provider is None or provider.token_owner is None or backend_name not in configured:
        raise UpstreamTokenRejected("unsupported subject_issuer")
    strategy = load_strategy()
    # The token request stands in for a browser request: the audit trail reads its address and user agent.
    strategy.request = request
    backend = strategy.get_backend(backend_name, redirect_uri=None)
    owner = provider.token_owner(backend, token)
    user = backend.do_auth(token, response={}, exchange_client=client_id, token_owner=owner)
    if user is None:
        raise UpstreamTokenRejected("no user")
    # The ID token's auth_time: the person authenticated at the upstream for this exchange.
    update_last_login(None, user)
    return user
