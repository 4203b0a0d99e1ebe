"""The provider core's records: people, signing keys, the audit trail, and single sign-on sessions."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _


def generate_sub() -> str:
    """An opaque subject identifier: random, never derived from the row id or the email (OIDC Core §8)."""
    return secrets.token_urlsafe(24)


class User(AbstractUser):
    """One person. Email-first; `sub` is what client apps see and never changes."""

    sub = models.CharField(_("subject identifier"), max_length=64, unique=True, default=generate_sub, editable=False)
    # Not unique: an identity whose email no upstream verified becomes a separate user (INTERFACE.md).
    email = models.EmailField(_("email address"), blank=True, db_index=True)
    email_verified = models.BooleanField(
        _("email verified"), default=False, help_text=_("True only when an upstream provider verified this email.")
    )
    name = models.CharField(_("full name"), max_length=255, blank=True)
    picture = models.URLField(_("picture"), max_length=1000, blank=True)
    locale = models.CharField(_("locale"), max_length=35, blank=True)

    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["email"]

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self) -> str:
        return self.email or self.username

    def get_full_name(self) -> str:
        return self.name or super().get_full_name()


class SigningKey(models.Model):
    """An RSA key that signs ID tokens. The private part is encrypted with a key derived from SECRET_KEY."""

    kid = models.CharField(max_length=64, unique=True)
    private_key_encrypted = models.TextField()
    public_jwk = models.JSONField()
    created = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True, db_index=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("signing key")
        verbose_name_plural = _("signing keys")
        ordering = ["-activated_at", "-created"]

    def __str__(self) -> str:
        return self.kid


class AuditEvent(models.Model):
    """Something security-relevant that happened: who, what, to which client, from where, and how it ended."""

    class Outcome(models.TextChoices):
        SUCCESS = "success", _("success")
        # Refused on purpose by a rule (a token of another app, an identity linked to someone else, ...).
        REFUSED = "refused", _("refused")
        # Did not complete for another reason: cancelled, expired, the upstream down.
        FAILURE = "failure", _("failure")

    created = models.DateTimeField(auto_now_add=True, db_index=True)
    event = models.CharField(max_length=64, db_index=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.SUCCESS, db_index=True)
    user = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    client_id = models.CharField(max_length=255, blank=True)
    provider = models.CharField(max_length=64, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.created:%Y-%m-%d %H:%M:%S} {self.event}"


class SessionAuthorization(models.Model):
    """A client app that received an authorization code during one Gatehouse browser session.

    `sid` is a random value kept in the Django session (idp/sso.py), never the session key itself: it
    travels in ID tokens and logout tokens, and a session key there would let any app take over the
    session. Logout reads these rows to know which apps to notify (OpenID Connect Back-Channel Logout)
    and which refresh tokens to revoke (`token_family`: the refresh tokens the code became, rotations
    included).
    """

    sid = models.CharField(max_length=64, db_index=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    application = models.ForeignKey(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    # SHA-256 of the authorization code: the token endpoint finds the session from the code it exchanges.
    code_checksum = models.CharField(max_length=64, unique=True)
    token_family = models.UUIDField(null=True, blank=True, db_index=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("session sign-in")
        verbose_name_plural = _("session sign-ins")

    def __str__(self) -> str:
        return f"{self.sid[:8]}… → {self.application_id}"


class LogoutDelivery(models.Model):
    """One back-channel logout token still to be sent (or sent, or given up on) to one client app.

    Kept in the database, not in a process: whichever node or worker is free delivers or retries it
    (idp/backchannel.py).
    """

    class State(models.TextChoices):
        PENDING = "pending", _("pending")
        DELIVERED = "delivered", _("delivered")
        FAILED = "failed", _("failed")

    application = models.ForeignKey(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("client")
    )
    uri = models.URLField(_("back-channel logout URI"), max_length=1000)
    sub = models.CharField(_("subject identifier"), max_length=64)
    sid = models.CharField(_("session id (sid)"), max_length=64, blank=True)
    # One jti for every attempt of this logout: a client that already processed it can recognise a retry.
    jti = models.CharField(_("token id (jti)"), max_length=64, unique=True)
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=300, blank=True)
    created = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)

    class Meta:
        verbose_name = _("back-channel logout delivery")
        verbose_name_plural = _("back-channel logout deliveries")
        ordering = ["-created"]
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="idp_logout_due")]

    def __str__(self) -> str:
        return f"{self.uri} ({self.state})"


class RedeemedCode(models.Model):
    """An authorization code already exchanged, kept so that a second redemption can revoke what the first
    issued (RFC 6749 §4.1.2, RFC 9700 §4.2.4). django-oauth-toolkit deletes the code's row on exchange.

    Only a SHA-256 checksum of the code is kept. Rows go with `cleartokens` once every token the code
    could have led to has expired.
    """

    code_checksum = models.CharField(_("code checksum"), max_length=64, unique=True)
    application = models.ForeignKey(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("client")
    )
    user = models.ForeignKey(User, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    # Not foreign keys: the tokens may be deleted (revoked, expired) long before this row.
    access_token_id = models.BigIntegerField(_("access token id"), null=True, blank=True)
    token_family = models.UUIDField(_("refresh token family"), null=True, blank=True)
    redeemed_at = models.DateTimeField(_("redeemed"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("redeemed authorization code")
        verbose_name_plural = _("redeemed authorization codes")

    def __str__(self) -> str:
        return f"{self.application_id} {self.redeemed_at:%Y-%m-%d %H:%M}"
