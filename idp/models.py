"""The provider core's records: people, signing keys, and the audit trail."""

from __future__ import annotations

import secrets

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
    """Something security-relevant that happened: who, what, to which client, from where."""

    created = models.DateTimeField(auto_now_add=True, db_index=True)
    event = models.CharField(max_length=64, db_index=True)
    user = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    client_id = models.CharField(max_length=255, blank=True)
    provider = models.CharField(max_length=64, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.created:%Y-%m-%d %H:%M:%S} {self.event}"
