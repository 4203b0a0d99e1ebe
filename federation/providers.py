"""One mapping per upstream provider: how it looks on the login page and how to read its profile.

Provider quirks live here and nowhere else (no `if provider == ...` chains across the code).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from social_core.backends.utils import load_backends


@dataclass(frozen=True)
class Profile:
    """What an upstream told us about a person, in one shape for every provider."""

    email: str = ""
    email_verified: bool = False
    name: str = ""
    given_name: str = ""
    family_name: str = ""
    picture: str = ""
    locale: str = ""
    nickname: str = ""


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _google(response: dict, details: dict) -> Profile:
    return Profile(
        email=_text(response.get("email")).lower(),
        email_verified=response.get("email_verified") is True,
        name=_text(response.get("name")),
        given_name=_text(response.get("given_name")),
        family_name=_text(response.get("family_name")),
        picture=_text(response.get("picture")),
        locale=_text(response.get("locale")),
    )


def _kakao(response: dict, details: dict) -> Profile:
    account = response.get("kakao_account") or {}
    profile = account.get("profile") or {}
    properties = response.get("properties") or {}
    nickname = _text(profile.get("nickname")) or _text(properties.get("nickname"))
    return Profile(
        email=_text(account.get("email")).lower(),
        # Kakao vouches for an email only when it is both valid and verified.
        email_verified=account.get("is_email_valid") is True and account.get("is_email_verified") is True,
        name=nickname,
        nickname=nickname,
        picture=_text(profile.get("profile_image_url")) or _text(properties.get("profile_image")),
    )


def _facebook(response: dict, details: dict) -> Profile:
    picture = ((response.get("picture") or {}).get("data") or {}).get("url")
    return Profile(
        email=_text(response.get("email")).lower(),
        # Facebook does not say whether an email was verified: never trusted for linking unless told so.
        email_verified=bool(settings.GATEHOUSE_TRUST_FACEBOOK_EMAIL) and bool(response.get("email")),
        name=_text(response.get("name")),
        given_name=_text(response.get("first_name")),
        family_name=_text(response.get("last_name")),
        picture=_text(picture),
    )


def _oidc(response: dict, details: dict) -> Profile:
    return Profile(
        email=_text(response.get("email") or details.get("email")).lower(),
        email_verified=response.get("email_verified") is True,
        name=_text(response.get("name") or details.get("fullname")),
        given_name=_text(response.get("given_name")),
        family_name=_text(response.get("family_name")),
        picture=_text(response.get("picture")),
        locale=_text(response.get("locale")),
        nickname=_text(response.get("preferred_username") or response.get("nickname")),
    )


def _dev(response: dict, details: dict) -> Profile:
    return Profile(email=response["email"], email_verified=response["email_verified"], name=response["name"])


@dataclass(frozen=True)
class Provider:
    backend: str
    brand: str  # the provider's own name; the generic OIDC upstream's comes from settings
    css_class: str
    read_profile: Callable[[dict, dict], Profile] = field(repr=False)

    @property
    def name(self) -> str:
        if self.backend == "oidc":
            return settings.GATEHOUSE_OIDC_UPSTREAM_NAME
        return self.brand


PROVIDERS: dict[str, Provider] = {
    p.backend: p
    for p in (
        Provider("google-oauth2", "Google", "btn-google", _google),
        Provider("kakao", "Kakao", "btn-kakao", _kakao),
        Provider("facebook", "Facebook", "btn-facebook", _facebook),
        Provider("oidc", "OpenID Connect", "btn-oidc", _oidc),
        Provider("dev", "Development login", "btn-dev", _dev),
    )
}


def offered_providers() -> list[Provider]:
    """The upstreams whose backend is configured (INTERFACE.md: offered iff its KEY is set)."""
    enabled = load_backends(settings.AUTHENTICATION_BACKENDS)
    return [provider for name, provider in PROVIDERS.items() if name in enabled]


def provider_name(backend_name: str) -> str:
    provider = PROVIDERS.get(backend_name)
    return provider.name if provider else backend_name
