"""Federation's own records: which client apps may exchange upstream tokens (RFC 8693)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class TokenExchangeClient(models.Model):
    """A native app allowed to trade an upstream access token (Kakao, Google, Facebook SDK) for Gatehouse tokens.

    Kept beside the client rather than on it, so the clients app needs no field for a federation feature.
    Only trusted (first-party) clients qualify: an exchange shows no consent page.
    """

    application = models.OneToOneField(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL,
        on_delete=models.CASCADE,
        related_name="token_exchange",
        verbose_name=_("client"),
    )
    upstreams = models.CharField(
        _("upstreams"),
        max_length=200,
        blank=True,
        help_text=_("Space separated backends whose tokens this app may exchange (kakao google-oauth2 facebook); "
                    "empty allows every one that supports exchange."),
    )
    created = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("token exchange client")
        verbose_name_plural = _("token exchange clients")

    def __str__(self) -> str:
        return str(self.application)

    def allows(self, backend: str) -> bool:
        allowed = set(self.upstreams.split())
        return not allowed or backend in allowed
