"""Registering and managing client apps: one set of services shared by the admin, the REST API and `createclient`."""

from __future__ import annotations

import copy
import io
from collections import defaultdict
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext as _
from PIL import Image, UnidentifiedImageError
from social_core.backends.utils import load_backends

from clients.models import Application, generate_client_secret
from idp.net import is_loopback
from idp.services import audit_record

GRANTS = {
    "authorization-code": Application.GRANT_AUTHORIZATION_CODE,
    "client-credentials": Application.GRANT_CLIENT_CREDENTIALS,
}

# What a client is registered and updated with: `client_register`'s keywords, the REST API's JSON
# fields and the admin form's fields all use these names, so an error keyed by one lands on the right
# field everywhere.
CLIENT_FIELDS = (
    "name", "description", "redirect_uris", "post_logout_redirect_uris", "grant", "public", "trusted",
    "scopes", "allowed_upstreams", "logo_url", "brand_color", "homepage_url", "privacy_policy_url",
    "terms_url", "contact_email", "backchannel_logout_uri", "access_token_format",
)  # fmt: skip
_LIST_FIELDS = ("redirect_uris", "post_logout_redirect_uris", "scopes", "allowed_upstreams")
# Model fields named differently from the service's: their model errors are reported under our name.
_MODEL_TO_FIELD = {"client_type": "public", "authorization_grant_type": "grant"}

# An uploaded logo is served from the database to every consent page: small, and in a format every
# browser decodes. SVG is refused: it is a document that can carry scripts, not just a picture.
LOGO_MAX_BYTES = 256 * 1024
LOGO_MAX_SIDE = 2048  # pixels; a small file can still declare a huge image that browsers must decode
LOGO_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}


@dataclass(frozen=True)
class Registered:
    application: Application
    client_secret: str  # the only time it exists in cleartext; "" for public clients


def validate_redirect_uri(uri: str) -> None:
    """https, or http only to loopback (RFC 8252 §7.3); absolute; no fragment (RFC 6749 §3.1.2); no wildcard."""
    try:
        parts = urlsplit(uri)
        host = parts.hostname or ""
    except ValueError:
        raise ValidationError(_("%(uri)s is not a valid URL.") % {"uri": uri}) from None
    if parts.scheme not in ("https", "http") or not host:
        raise ValidationError(_("%(uri)s must be an absolute https URL.") % {"uri": uri})
    if parts.scheme == "http" and not is_loopback(host):
        raise ValidationError(_("%(uri)s: plain http is allowed only for loopback addresses.") % {"uri": uri})
    if parts.fragment or "#" in uri:
        raise ValidationError(_("%(uri)s must not contain a fragment.") % {"uri": uri})
    if "*" in uri:
        raise ValidationError(_("%(uri)s must not contain wildcards.") % {"uri": uri})
    if any(c.isspace() for c in uri):
        raise ValidationError(_("%(uri)s must not contain spaces.") % {"uri": uri})


def validate_logo_url(uri: str) -> None:
    """The consent page loads it: https (plain http only from loopback, for development), no credentials."""
    try:
        parts = urlsplit(uri)
        host = parts.hostname or ""
    except ValueError:
        raise ValidationError(_("%(uri)s is not a valid URL.") % {"uri": uri}) from None
    if parts.scheme not in ("https", "http") or not host or (parts.scheme == "http" and not is_loopback(host)):
        raise ValidationError(_("%(uri)s: a logo must be served over https.") % {"uri": uri})
    if parts.username or parts.password:
        raise ValidationError(_("%(uri)s must not contain a user name or password.") % {"uri": uri})


def validate_link_url(uri: str) -> None:
    """Links shown to people (homepage, privacy policy, terms): web pages only."""
    try:
        scheme = urlsplit(uri).scheme
    except ValueError:
        raise ValidationError(_("%(uri)s is not a valid URL.") % {"uri": uri}) from None
    if scheme not in ("https", "http"):
        raise ValidationError(_("%(uri)s must be an http or https URL.") % {"uri": uri})


def validate_scopes(scopes: list[str], *, grant: str) -> None:
    if not scopes:
        raise ValidationError(_("A client needs at least one scope."))
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


def _read_logo(uploaded_file: File) -> tuple[bytes, str]:
    """The file's bytes and content type, if it really is a small PNG, JPEG, WebP or GIF image."""
    if uploaded_file.size is not None and uploaded_file.size > LOGO_MAX_BYTES:
        raise ValidationError(_("A logo may be at most %(kb)d KB.") % {"kb": LOGO_MAX_BYTES // 1024})
    uploaded_file.seek(0)
    data = uploaded_file.read(LOGO_MAX_BYTES + 1)
    if len(data) > LOGO_MAX_BYTES:
        raise ValidationError(_("A logo may be at most %(kb)d KB.") % {"kb": LOGO_MAX_BYTES // 1024})
    not_an_image = ValidationError(_("A logo must be a PNG, JPEG, WebP or GIF image (SVG is not accepted)."))
    try:
        # The type comes from decoding the bytes, never from the file name or the browser's claim;
        # `formats` keeps Pillow's other parsers away from untrusted input.
        with Image.open(io.BytesIO(data), formats=list(LOGO_FORMATS)) as image:
            image_format, (width, height) = image.format, image.size
            if max(width, height) > LOGO_MAX_SIDE:
                raise ValidationError(
                    _("A logo may be at most %(px)d pixels wide and high.") % {"px": LOGO_MAX_SIDE}
                )
            image.verify()
        # verify() checks the structure without decoding; load() decodes every pixel.
        with Image.open(io.BytesIO(data), formats=list(LOGO_FORMATS)) as image:
            image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise not_an_image from None
    return data, LOGO_FORMATS[image_format]


def validate_logo_file(uploaded_file: File) -> None:
    _read_logo(uploaded_file)


def _new_client_fields() -> dict[str, Any]:
    return {
        "name": "", "description": "", "redirect_uris": [], "post_logout_redirect_uris": [],
        "grant": "authorization-code", "public": False, "trusted": False,
        "scopes": list(settings.GATEHOUSE_DEFAULT_CLIENT_SCOPES), "allowed_upstreams": [], "logo_url": "",
        "brand_color": "", "homepage_url": "", "privacy_policy_url": "", "terms_url": "", "contact_email": "",
        "backchannel_logout_uri": "", "access_token_format": Application.AccessTokenFormat.OPAQUE,
    }  # fmt: skip


def client_fields(application: Application) -> dict[str, Any]:
    """A registered client as the services (and the REST API) name its fields."""
    grant = next((name for name, value in GRANTS.items() if value == application.authorization_grant_type), "")
    return {
        "name": application.name,
        "description": application.description,
        "redirect_uris": application.redirect_uris.split(),
        "post_logout_redirect_uris": application.post_logout_redirect_uris.split(),
        "grant": grant,
        "public": application.client_type == Application.CLIENT_PUBLIC,
        "trusted": application.trusted,
        "scopes": application.scopes.split(),
        "allowed_upstreams": application.allowed_upstreams.split(),
        "logo_url": application.logo_url,
        "brand_color": application.brand_color,
        "homepage_url": application.homepage_url,
        "privacy_policy_url": application.privacy_policy_url,
        "terms_url": application.terms_url,
        "contact_email": application.contact_email,
        "backchannel_logout_uri": application.backchannel_logout_uri,
        "access_token_format": application.access_token_format,
    }


def client_validate(*, application: Application | None = None, **fields: Any) -> Application:
    """Check a new client (application=None) or changes to one; return the unsaved result.

    The one place the rules for a client live. Every problem is reported at once, keyed by field name.
    """
    unknown = set(fields) - set(CLIENT_FIELDS)
    if unknown:
        raise TypeError(f"unknown client fields: {', '.join(sorted(unknown))}")
    errors: dict[str, list[str]] = defaultdict(list)

    def check(field: str, validator, *args, **kwargs) -> None:
        try:
            validator(*args, **kwargs)
        except ValidationError as exc:
            errors[field].extend(exc.messages)

    if application is None:
        state = {**_new_client_fields(), **fields}
        candidate = Application(
            client_type=Application.CLIENT_PUBLIC if state["public"] else Application.CLIENT_CONFIDENTIAL,
            client_secret="",
            hash_client_secret=True,
            algorithm=Application.RS256_ALGORITHM,
        )
    else:
        current = client_fields(application)
        if "public" in fields and bool(fields["public"]) != current["public"]:
            # A confidential client turned public would keep a working secret; the other way round
            # would need a secret handed out by an update. Register a new client instead.
            errors["public"].append(_("The client type cannot change; register a new client instead."))
        state = {**current, **fields}
        candidate = copy.copy(application)
    for field in _LIST_FIELDS:
        state[field] = [str(item).strip() for item in state[field] if str(item).strip()]
    state["name"] = state["name"].strip()

    grant = state["grant"]
    if grant not in GRANTS:
        errors["grant"].append(_("grant must be one of: %(grants)s") % {"grants": ", ".join(GRANTS)})
    if not state["name"]:
        errors["name"].append(_("A client needs a name."))
    if grant == "authorization-code" and not state["redirect_uris"]:
        errors["redirect_uris"].append(_("An authorization-code client needs at least one redirect URI."))
    if grant == "client-credentials" and state["public"]:
        errors["public"].append(_("A client-credentials client must be confidential."))
    for field in ("redirect_uris", "post_logout_redirect_uris"):
        for uri in state[field]:
            check(field, validate_redirect_uri, uri)
    if state["backchannel_logout_uri"]:
        # Gatehouse itself posts logout tokens there (OIDC Back-Channel Logout §2.2): same rules.
        check("backchannel_logout_uri", validate_redirect_uri, state["backchannel_logout_uri"])
    if state["logo_url"]:
        check("logo_url", validate_logo_url, state["logo_url"])
    for field in ("homepage_url", "privacy_policy_url", "terms_url"):
        if state[field]:
            check(field, validate_link_url, state[field])
    check("scopes", validate_scopes, state["scopes"], grant=grant)
    check("allowed_upstreams", validate_upstreams, state["allowed_upstreams"])
    if state["access_token_format"] not in Application.AccessTokenFormat.values:
        errors["access_token_format"].append(
            _("access_token_format must be one of: %(formats)s")
            % {"formats": ", ".join(Application.AccessTokenFormat.values)}
        )

    candidate.name = state["name"]
    candidate.description = state["description"]
    candidate.redirect_uris = " ".join(state["redirect_uris"])
    candidate.post_logout_redirect_uris = " ".join(state["post_logout_redirect_uris"])
    candidate.authorization_grant_type = GRANTS.get(grant, candidate.authorization_grant_type)
    candidate.trusted = bool(state["trusted"])
    candidate.scopes = " ".join(dict.fromkeys(state["scopes"]))
    candidate.allowed_upstreams = " ".join(dict.fromkeys(state["allowed_upstreams"]))
    for field in ("logo_url", "brand_color", "homepage_url", "privacy_policy_url", "terms_url", "contact_email",
                  "backchannel_logout_uri", "access_token_format"):  # fmt: skip
        setattr(candidate, field, state[field])
    # The model checks the rest (lengths, URL and email syntax, the brand colour). A field we already
    # reported keeps our message only, not a second wording of the same problem from the model.
    try:
        candidate.full_clean(exclude=["client_secret"])
    except ValidationError as exc:
        for model_field, messages in exc.message_dict.items():
            field = _MODEL_TO_FIELD.get(model_field, model_field)
            if field not in errors:
                errors[field].extend(messages)
    if errors:
        raise ValidationError(dict(errors))
    return candidate


def _audit(event: str, *, application: Application, request: HttpRequest | None, via: str, **data: Any) -> None:
    """Audit every change to a client, naming how (`via`: admin, api, createclient) and who made it."""
    data["via"] = via or "internal"
    user = getattr(request, "user", None)
    token = getattr(request, "auth", None)  # a REST API request authenticated with an access token
    if token is not None and getattr(token, "application", None) is not None:
        data["by_client"] = token.application.client_id
    audit_record(
        event=event,
        request=request,
        user=user if user is not None and user.is_authenticated else None,
        client_id=application.client_id,
        **data,
    )


def client_register(
    *,
    name: str,
    redirect_uris: list[str] | None = None,
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
    access_token_format: str = Application.AccessTokenFormat.OPAQUE,
    request: HttpRequest | None = None,
    via: str = "",
) -> Registered:
    """Register a client. Its secret (confidential clients) is returned here once and stored hashed."""
    application = client_validate(
        name=name,
        # Omitted (a service client over the REST API): the rules below say whether one is needed.
        redirect_uris=redirect_uris or [],
        grant=grant,
        public=public,
        trusted=trusted,
        scopes=scopes if scopes is not None else list(settings.GATEHOUSE_DEFAULT_CLIENT_SCOPES),
        logo_url=logo_url,
        homepage_url=homepage_url,
        backchannel_logout_uri=backchannel_logout_uri,
        post_logout_redirect_uris=post_logout_redirect_uris or [],
        description=description,
        brand_color=brand_color,
        privacy_policy_url=privacy_policy_url,
        terms_url=terms_url,
        contact_email=contact_email,
        allowed_upstreams=allowed_upstreams or [],
        access_token_format=access_token_format,
    )
    secret = "" if public else generate_client_secret()
    application.client_secret = secret
    with transaction.atomic():
        application.save()
        _audit(
            "client.registered",
            application=application,
            request=request,
            via=via,
            name=application.name,
            grant=grant,
            public=public,
            trusted=application.trusted,
            scopes=application.scopes.split(),
            access_token_format=application.access_token_format,
        )
    return Registered(application=application, client_secret=secret)


def client_update(
    *, application: Application, request: HttpRequest | None = None, via: str = "", **fields: Any
) -> Application:
    """Change some of a client's fields, checked exactly as at registration. The secret is not touched."""
    candidate = client_validate(application=application, **fields)
    before = client_fields(application)
    changed = [
        f.name
        for f in Application._meta.concrete_fields
        if f.name not in ("client_secret", "updated")
        and getattr(candidate, f.attname) != getattr(application, f.attname)
    ]
    if not changed:
        return application
    for field in changed:
        setattr(application, field, getattr(candidate, field))
    with transaction.atomic():
        # Only the changed columns: a secret rotated meanwhile must not be overwritten with the old hash.
        application.save(update_fields=[*changed, "updated"])
        after = client_fields(application)
        _audit(
            "client.updated",
            application=application,
            request=request,
            via=via,
            fields=sorted(name for name in CLIENT_FIELDS if before[name] != after[name]),
        )
    return application


def client_rotate_secret(*, application: Application, request: HttpRequest | None = None, via: str = "") -> str:
    """Give a confidential client a new secret; the old one stops working at once."""
    if application.client_type != Application.CLIENT_CONFIDENTIAL:
        raise ValidationError(_("Public clients have no secret."))
    secret = generate_client_secret()
    application.client_secret = secret
    with transaction.atomic():
        application.save(update_fields=["client_secret", "updated"])
        _audit("client.secret_rotated", application=application, request=request, via=via)
    return secret


def client_set_logo(
    *, application: Application, uploaded_file: File, request: HttpRequest | None = None, via: str = ""
) -> None:
    """Store an uploaded logo in the database (every node serves it), if it is a real, small image."""
    try:
        data, content_type = _read_logo(uploaded_file)
    except ValidationError as exc:
        raise ValidationError({"logo_file": exc.messages}) from None
    application.logo_image, application.logo_content_type = data, content_type
    with transaction.atomic():
        application.save(update_fields=["logo_image", "logo_content_type", "updated"])
        _audit(
            "client.logo_set",
            application=application,
            request=request,
            via=via,
            content_type=content_type,
            size=len(data),
        )


def client_remove_logo(*, application: Application, request: HttpRequest | None = None, via: str = "") -> None:
    if not application.has_uploaded_logo:
        return
    application.logo_image, application.logo_content_type = b"", ""
    with transaction.atomic():
        application.save(update_fields=["logo_image", "logo_content_type", "updated"])
        _audit("client.logo_removed", application=application, request=request, via=via)


def client_delete(*, application: Application, request: HttpRequest | None = None, via: str = "") -> None:
    """Delete a client and everything issued to it, so none of its tokens or codes works any longer."""
    with transaction.atomic():
        # Its authorization codes, access, refresh and ID tokens and consents go with it (the
        # foreign keys cascade); the audit trail keeps its client_id.
        _audit("client.deleted", application=application, request=request, via=via, name=application.name)
        application.delete()
