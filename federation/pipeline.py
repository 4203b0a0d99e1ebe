"""social-auth pipeline steps: map an upstream identity to exactly one local user (DESIGN.md, step 4).

Known identity -> its user. New identity with an email the upstream verified, matching a user whose
email is verified -> linked to that user. Anything else -> a new user. Each outcome is audited.
"""

from __future__ import annotations

from dataclasses import asdict

from idp.models import User
from idp.services import audit_record, user_create

from federation.providers import PROVIDERS, Profile


def normalize_profile(backend, details, response, *args, **kwargs):
    """Read the upstream's answer through its provider mapping (federation/providers.py)."""
    return {"profile": PROVIDERS[backend.name].read_profile(response or {}, details)}


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


def update_user(backend, user, profile: Profile, *args, **kwargs):
    """Fill in what we did not know; mark the email verified when this upstream vouches for it."""
    changed = []
    if profile.email_verified and profile.email and user.email.lower() == profile.email and not user.email_verified:
        user.email_verified = True
        changed.append("email_verified")
    if not user.email and profile.email:
        user.email, user.email_verified = profile.email, profile.email_verified
        changed += ["email", "email_verified"]
    for field, value in (("name", profile.name), ("first_name", profile.given_name),
                         ("last_name", profile.family_name), ("picture", profile.picture),
                         ("locale", profile.locale)):
        if value and not getattr(user, field):
            setattr(user, field, value[: User._meta.get_field(field).max_length])
            changed.append(field)
    if changed:
        user.save(update_fields=changed)


def audit_login(backend, user, uid, is_new=False, new_association=False, linked_by_email=False, *args, **kwargs):
    request = backend.strategy.request
    if is_new:
        audit_record(event="user.created", request=request, user=user, provider=backend.name)
    if new_association:
        audit_record(
            event="identity.linked", request=request, user=user, provider=backend.name,
            reason="verified_email" if linked_by_email else ("new_user" if is_new else "signed_in"),
        )
    audit_record(event="login", request=request, user=user, provider=backend.name)
