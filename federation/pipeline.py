"""social-auth pipeline steps: map an upstream identity to exactly one local user (DESIGN.md, step 4).

Known identity -> its user. New identity with an email the upstream verified, matching a user whose
email is verified -> linked to that user. Anything else -> a new user. Each outcome is audited.

The same steps serve three ways in (`mode`): a browser sign-in, a signed-in person connecting another
upstream from /account/, and a native app's token exchange (federation/token_exchange.py). The whole
pipeline runs in one transaction (federation/strategy.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict

from django.contrib import messages
from django.db import connection
from django.utils.translation import gettext as _
from social_core.exceptions import AuthPolicyError, AuthResponseError
from social_core.pipeline.social_auth import social_user

from federation.providers import PROVIDERS, Profile, provider_name
from federation.services import identity_record_use
from idp.models import User
from idp.services import audit_record, user_create

SIGN_IN, CONNECT, EXCHANGE = "sign_in", "connect", "exchange"


class AccountDisabled(AuthPolicyError):
    """The upstream identity belongs to a user an administrator deactivated."""


def start(backend, user=None, exchange_client: str = "", *args, **kwargs):
    """Name the way in, before `social_user` fills in `user` for known identities.

    A `user` here is the signed-in person of a connect flow (federation.views.complete passes one only
    then); a sign-in from the login page always arrives without one.
    """
    if exchange_client:
        return {"mode": EXCHANGE}
    return {"mode": CONNECT if user is not None else SIGN_IN}


def match_token_owner(backend, uid, mode: str, token_owner: str = "", *args, **kwargs):
    """In a token exchange, the profile must be of the account the upstream said owns the token."""
    if mode == EXCHANGE and str(uid) != token_owner:
        raise AuthResponseError(backend, "token owner mismatch", code="invalid_claim", claim="sub", stage="pipeline")


def lock_identity(backend, uid, user=None, social=None, *args, **kwargs):
    """Let one first sign-in at a time of this upstream identity through the rest of the pipeline.

    Concurrent first sign-ins of one identity (a double click, two tabs) would each find no identity in
    `social_user`, each create a user, and all but one then fail on the identity's unique constraint
    (social-core's AuthAlreadyAssociated, a "please start again" page) with an orphan user rolled back.
    When `social_user` found no identity, a transaction-scoped advisory lock on (provider, uid), inside
    the pipeline's transaction (federation/strategy.py), queues them instead, and each looks again once it
    holds the lock: the first creates the user and the link, and the others, once it has committed, find
    the link and sign in as that user. A known identity's user is settled, so a returning person takes no
    lock; different identities never wait for each other. SQLite serialises all writes and has no such lock.
    """
    if social is not None or connection.vendor != "postgresql":
        return None
    digest = hashlib.sha256(f"{backend.name}\0{uid}".encode()).digest()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [int.from_bytes(digest[:8], "big", signed=True)])
    return social_user(backend, uid, user, *args, **kwargs)


def normalize_profile(backend, details, response, *args, **kwargs):
    """Read the upstream's answer through its provider mapping (federation/providers.py)."""
    return {"profile": PROVIDERS[backend.name].read_profile(response or {}, details)}


def refuse_disabled_user(backend, user=None, *args, **kwargs):
    if user is not None and not user.is_active:
        raise AccountDisabled(backend, code="authentication_disallowed", stage="pipeline")


def associate_by_verified_email(backend, profile: Profile, user=None, *args, **kwargs):
    """Link a new identity to an existing user, but only on an email both sides have verified.

    social-core's `associate_by_email` links on any email: an attacker could register the victim's
    address, unverified, at some upstream and walk into the victim's account. Requiring the existing
    user's email to be verified too stops the reverse (pre-hijacking an account before its owner arrives).
    """
    if user is not None or not (profile.email and profile.email_verified):
        return None
    match = User.objects.filter(email__iexact=profile.email, email_verified=True, is_active=True).order_by("pk").first()
    if match is None:
        return None
    return {"user": match, "is_new": False, "linked_by_email": True}


def create_user(backend, profile: Profile, user=None, *args, **kwargs):
    if user is not None:
        return None
    return {"user": user_create(**asdict(profile)), "is_new": True}


def _fit(field: str, value: str) -> str:
    return value[: User._meta.get_field(field).max_length]


def update_user(backend, user, profile: Profile, mode: str, social=None, *args, **kwargs):
    """Keep the profile in step with the upstream the person signs in with.

    Name, picture and locale follow the upstream at each sign-in (an empty value never erases ours).
    The email changes only to another address the upstream verified, and only when the current one is
    unverified or came from this same identity: two upstreams with different verified addresses must not
    make the email flip at every sign-in. Connecting another upstream fills gaps and changes nothing else.
    """
    changed: set[str] = set()
    email = user.email.lower()
    if profile.email_verified and profile.email and email == profile.email and not user.email_verified:
        user.email_verified = True
        changed.add("email_verified")
    identity_email = ((social.extra_data or {}).get("email") if social is not None else "") or ""
    if not user.email and profile.email:
        user.email, user.email_verified = profile.email, profile.email_verified
        changed |= {"email", "email_verified"}
    elif (
        mode != CONNECT
        and profile.email_verified
        and profile.email
        and email != profile.email
        and (not user.email_verified or identity_email == email)
    ):
        user.email, user.email_verified = profile.email, True
        changed |= {"email", "email_verified"}
    for field_name, value in (("name", profile.name), ("first_name", profile.given_name),
                              ("last_name", profile.family_name), ("picture", profile.picture),
                              ("locale", profile.locale)):
        value = _fit(field_name, value)
        if value and value != getattr(user, field_name) and (mode != CONNECT or not getattr(user, field_name)):
            setattr(user, field_name, value)
            changed.add(field_name)
    if changed:
        user.save(update_fields=sorted(changed))


def record_identity(backend, social, profile: Profile, *args, **kwargs):
    """Remember what /account/ shows about the identity (email, last used); never a token."""
    identity_record_use(identity=social, email=profile.email, email_verified=profile.email_verified)


def audit_login(backend, user, mode: str, is_new=False, new_association=False, linked_by_email=False,
                exchange_client: str = "", *args, **kwargs):
    request = backend.strategy.request
    if is_new:
        audit_record(event="user.created", request=request, user=user, provider=backend.name, client_id=exchange_client)
    if new_association:
        reason = {CONNECT: "connected"}.get(mode) or (
            "verified_email" if linked_by_email else ("new_user" if is_new else "signed_in")
        )
        audit_record(event="identity.linked", request=request, user=user, provider=backend.name,
                     client_id=exchange_client, reason=reason)
    if mode == SIGN_IN:
        audit_record(event="login", request=request, user=user, provider=backend.name)
    elif mode == CONNECT and request is not None:
        name = provider_name(backend.name)
        if new_association:
            messages.success(request, _("Your %(provider)s account is now linked.") % {"provider": name})
        else:
            messages.info(request, _("That %(provider)s account was already linked to you.") % {"provider": name})
