"""Registering client apps: one service shared by the admin, the REST API and `createclient`."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from social_core.backends.utils import load_backends

from clients.models import Application, generate_client_secret

GRANTS = {
    "authorization-code": Application.GRANT_AUTHORIZATION_CODE,
    "client-credentials": Application.GRANT_CLIENT_CREDENTIALS,
}


@dataclass(frozen=True)
class Registered:
    application: Application
    client_secret: str  # the only time it exists in cleartext; "" for public clients


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def validate_redirect_uri(uri: str) -> None:
    """https, or http only to loopback (RFC 8252 §7.3); absolute; no fragment (RFC 6749 §3.1.2); no wildcard."""
    try:
        parts = urlsplit(uri)
        host = parts.hostname or ""
    except ValueError:
        raise ValidationError(_("%(uri)s is not a valid URL.") % {"uri": uri}) from None
    if parts.scheme not in ("https", "http") or not host:
        raise ValidationError(_("%(uri)s must be an absolute https URL.") % {"uri": uri})
    if parts.scheme == "http" and not _is_loopback(host):
        raise ValidationError(_("%(uri)s: plain http is allowed only for loopback addresses.") % {"uri": uri})
    if parts.fragment or "#" in uri:
        raise ValidationError(_("%(uri)s must not contain a fragment.") % {"uri": uri})
    if "*" in uri:
        raise ValidationError(_("%(uri)s must not contain wildcards.") % {"uri": uri})
    if any(c.isspace() for c in uri):
        raise ValidationError(_("%(uri)s must not contain spaces.") % {"uri": uri})


def validate_scopes(scopes: list[str], *, grant: str) -> None:
    unknown = sorted(set(scopes) - set(settings.GATEHOUSE_SCOPES))
    if unknown:
        raise ValidationError(_("Unknown scopes: %(scopes)s") % {"scopes": " ".join(unknown)})
    if "gatehouse:admin" in scopes and grant != "client-credentials":
        raise ValidationError(_("gatehouse:admin is only for client-credentials (service) clients."))


def validate_upstreams(backends: list[str]) -> None:
    configured = load_backends(settings.AUTHENTICATION_BACKENDS)
    unknown = sorted(set(backends) - set(configured))
    if unknown:
        raise ValidationError(_("Upstreams not configured here: %(names)s") % {"names": " ".join(unknown)})


def client_register(
    *,
    name: str,
    redirect_uris: list[str],
    grant: str = "authorization-code",
    public: bool = False,
    trusted: bool = False,
    scopes: list[str] | None = None,
    logo_url: str = "",
    homepage_url: str = "",
    backchannel_logout_uri: str = "",
    post_logout_redirect_uris: list[str] | None = None,
    description: str = "",
    brand_color: str = "",
    privacy_policy_url: str = "",
    terms_url: str = "",
    contact_email: str = "",
    allowed_upstreams: list[str] | None = None,
) -> Registered:
    """Register a client. Its secret (confidential clients) is returned here once and stored hashed."""
    if grant not in GRANTS:
        raise ValidationError(_("grant must be one of: %(grants)s") % {"grants": ", ".join(GRANTS)})
    if not name.strip():
        raise ValidationError(_("A client needs a name."))
    if grant == "authorization-code" and not redirect_uris:
        raise ValidationError(_("An authorization-code client needs at least one redirect URI."))
    if grant == "client-credentials" and public:
        raise ValidationError(_("A client-credentials client must be confidential."))
    post_logout_redirect_uris = post_logout_redirect_uris or []
    for uri in [*redirect_uris, *post_logout_redirect_uris]:
        validate_redirect_uri(uri)
    scopes = scopes if scopes is not None else list(settings.GATEHOUSE_DEFAULT_CLIENT_SCOPES)
    validate_scopes(scopes, grant=grant)
    validate_upstreams(allowed_upstreams or [])

    secret = "" if public else generate_client_secret()
    application = Application(
        name=name.strip(),
        redirect_uris=" ".join(redirect_uris),
        post_logout_redirect_uris=" ".join(post_logout_redirect_uris),
        client_type=Application.CLIENT_PUBLIC if public else Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=GRANTS[grant],
        client_secret=secret,
        hash_client_secret=True,
        trusted=trusted,
        scopes=" ".join(dict.fromkeys(scopes)),
        logo_url=logo_url,
        homepage_url=homepage_url,
        backchannel_logout_uri=backchannel_logout_uri,
        description=description,
        brand_color=brand_color,
        privacy_policy_url=privacy_policy_url,
        terms_url=terms_url,
        contact_email=contact_email,
        allowed_upstreams=" ".join(allowed_upstreams or []),
        algorithm=Application.RS256_ALGORITHM,
    )
    application.full_clean(exclude=["client_secret"])
    with transaction.atomic():
        application.save()
    return Registered(application=application, client_secret=secret)


def client_rotate_secret(*, application: Application) -> str:
    """Give a confidential client a new secret; the old one stops working at once."""
    if application.client_type != Application.CLIENT_CONFIDENTIAL:
        raise ValidationError(_("Public clients have no secret."))
    secret = generate_client_secret()
    application.client_secret = secret
    application.save(update_fields=["client_secret", "updated"])
    return secret
