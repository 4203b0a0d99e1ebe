"""The client apps registered with Gatehouse (swapped into django-oauth-toolkit from the first migration)."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from jwcrypto import jwk
from oauth2_provider.models import AbstractApplication
from oauth2_provider.models import ClientSecretField as _DotClientSecretField

from idp import keys


def generate_client_secret() -> str:
    """256 random bits (DESIGN.md): no key stretching is needed to protect its hash."""
    return secrets.token_urlsafe(32)


def default_scopes() -> str:
    return " ".join(settings.GATEHOUSE_DEFAULT_CLIENT_SCOPES)


class ClientSecretField(_DotClientSecretField):
    """DOT's hashing field, except that "no secret" stays empty.

    DOT would store a hash of "", which becomes a valid (empty) secret the day someone switches the
    client to confidential.
    """

    def pre_save(self, model_instance, add):
        if not getattr(model_instance, self.attname):
            return ""
        return super().pre_save(model_instance, add)


class Application(AbstractApplication):
    client_secret = ClientSecretField(
        _("client secret"), max_length=255, blank=True, default=generate_client_secret, db_index=True
    )
    # Every client signs its ID tokens with Gatehouse's RSA keys (idp.keys); none is left without one.
    algorithm = models.CharField(
        _("algorithm"), max_length=5, choices=AbstractApplication.ALGORITHM_TYPES, default="RS256", blank=True
    )
    # Replaces DOT's `skip_authorization` column (the property below keeps DOT's name working).
    trusted = models.BooleanField(
        _("trusted"), default=False, help_text=_("A first-party app: the consent page is skipped.")
    )
    scopes = models.TextField(
        _("allowed scopes"), default=default_scopes, help_text=_("Space separated scopes this client may ask for.")
    )
    logo_url = models.URLField(_("logo URL"), max_length=1000, blank=True)
    homepage_url = models.URLField(_("homepage"), max_length=1000, blank=True)
    backchannel_logout_uri = models.URLField(_("back-channel logout URI"), max_length=1000, blank=True)

    class Meta(AbstractApplication.Meta):
        swappable = "OAUTH2_PROVIDER_APPLICATION_MODEL"
        verbose_name = _("client")
        verbose_name_plural = _("clients")

    @property
    def skip_authorization(self) -> bool:
        return self.trusted

    @property
    def allowed_scopes(self) -> set[str]:
        return set(self.scopes.split())

    @property
    def jwk_key(self) -> jwk.JWK:
        if self.algorithm == self.RS256_ALGORITHM:
            return keys.active_key()
        return super().jwk_key

    def clean(self) -> None:
        # django-oauth-toolkit refuses RS256 unless OIDC_RSA_PRIVATE_KEY is a setting; our keys live
        # in the database (idp.keys), so its check does not apply.
        algorithm = self.algorithm
        if algorithm == self.RS256_ALGORITHM:
            self.algorithm = self.NO_ALGORITHM
        try:
            super().clean()
        finally:
            self.algorithm = algorithm
