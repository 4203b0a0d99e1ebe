"""The client apps registered with Gatehouse (swapped into django-oauth-toolkit from the first migration)."""

from __future__ import annotations

import secrets
from contextvars import ContextVar

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from jwcrypto import jwk
from oauth2_provider.models import AbstractApplication, ApplicationManager as _DotApplicationManager
from oauth2_provider.models import ClientSecretField as _DotClientSecretField

from idp import keys
from idp.prebuilt import select_one


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


# The client that the authorization view (clients.views.ConsentView) is serving a request for, once it
# has read it. django-oauth-toolkit reads the client three more times per authorization request (its
# view once, its validation of the request twice), each with `Application.objects.get(client_id=...)`.
client_in_hand: ContextVar[Application | None] = ContextVar("client_in_hand", default=None)


class ApplicationQuerySet(models.QuerySet):
    def get(self, *args, **kwargs):
        """`Application.objects.get(client_id=...)`, the lookup of every token request, made cheap.

        Building that SELECT of thirty columns through the ORM's compiler costs more CPU than anything
        else a client-credentials request does, so it is built once (idp/prebuilt.py). Any other query
        (a filter, a lock, values(), only()) takes the ORM's own path.
        """
        query = self.query
        plain = (not query.where and not query.select_for_update and not query.select_related
                 and not query.annotations and not query.extra and query.deferred_loading == _DEFERRED
                 and self._iterable_class is models.query.ModelIterable)
        if args or list(kwargs) != ["client_id"] or not plain:
            return super().get(*args, **kwargs)
        client_id = kwargs["client_id"]
        known = client_in_hand.get()
        if known is not None and known.client_id == client_id:
            return known  # the same row, read earlier in this request
        found = select_one(Application, "client_id", str(client_id), defer=_DEFERRED[0], using=self.db)
        if found is None:
            raise self.model.DoesNotExist(f"No client with client_id {client_id!r}.")
        return found


_DEFERRED = (frozenset({"logo_image"}), True)  # the manager's defer("logo_image")


class ApplicationManager(_DotApplicationManager.from_queryset(ApplicationQuerySet)):
    """Reads of a client leave out its uploaded logo (up to 256 KB), which only the logo view needs.

    Every token request, authorization and introspection reads its client; without this each of them
    would also fetch the logo's bytes. `has_uploaded_logo` answers from the content type instead.
    """

    def get_queryset(self):
        return super().get_queryset().defer(*_DEFERRED[0])


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
    description = models.CharField(_("short description"), max_length=300, blank=True)
    logo_url = models.URLField(_("logo URL"), max_length=1000, blank=True)
    # An uploaded logo lives in the database, not on one node's disk, so every node can serve it.
    logo_image = models.BinaryField(_("uploaded logo"), blank=True, default=b"", editable=False)
    logo_content_type = models.CharField(max_length=32, blank=True, editable=False)
    brand_color = models.CharField(
        _("brand colour"), max_length=7, blank=True, validators=[RegexValidator(r"^#[0-9A-Fa-f]{6}$")],
        help_text=_("Like #1F6FEB."),
    )  # fmt: skip
    homepage_url = models.URLField(_("homepage"), max_length=1000, blank=True)
    privacy_policy_url = models.URLField(_("privacy policy URL"), max_length=1000, blank=True)
    terms_url = models.URLField(_("terms of service URL"), max_length=1000, blank=True)
    contact_email = models.EmailField(_("contact email"), blank=True)
    allowed_upstreams = models.CharField(
        _("allowed upstreams"), max_length=200, blank=True,
        help_text=_("Space separated backends (google-oauth2 kakao facebook oidc dev); empty allows all."),
    )  # fmt: skip
    backchannel_logout_uri = models.URLField(_("back-channel logout URI"), max_length=1000, blank=True)

    class AccessTokenFormat(models.TextChoices):
        # A random string: the resource server asks /o/introspect/ (one round trip per check).
        OPAQUE = "opaque", _("opaque (checked by introspection)")
        # RFC 9068: a signed JWT the resource server validates locally with the JWKS (idp/tokens.py).
        JWT = "jwt", _("JWT (RFC 9068, validated locally)")

    access_token_format = models.CharField(
        _("access token format"), max_length=8, choices=AccessTokenFormat.choices, default=AccessTokenFormat.OPAQUE,
        help_text=_("JWT access tokens let APIs validate them without calling Gatehouse; both can be revoked "
                    "and introspected."),
    )  # fmt: skip

    objects = ApplicationManager()

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
    def upstreams(self) -> set[str]:
        """The upstream backends this client accepts; empty means every configured one."""
        return set(self.allowed_upstreams.split())

    @property
    def has_uploaded_logo(self) -> bool:
        # Set and cleared together with logo_image (clients/services.py), and never deferred.
        return bool(self.logo_content_type)

    @property
    def logo_src(self) -> str:
        if self.has_uploaded_logo:
            return reverse("client-logo", args=[self.client_id])
        return self.logo_url

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


class Consent(models.Model):
    """What a person allowed a client to see; asked again only for scopes not yet granted."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="consents")
    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="consents")
    scopes = models.TextField(_("scopes"))
    granted_at = models.DateTimeField(_("granted at"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)

    class Meta:
        verbose_name = _("consent")
        verbose_name_plural = _("consents")
        constraints = [models.UniqueConstraint(fields=["user", "application"], name="one_consent_per_user_and_client")]

    def __str__(self) -> str:
        return f"{self.user} → {self.application}"

    @property
    def scope_set(self) -> set[str]:
        return set(self.scopes.split())
