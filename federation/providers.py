"""One mapping per upstream provider: how it looks on the login page, how to read its profile, and how
to check that an access token a native app sends was issued to *our* app there.

Provider quirks live here and nowhere else (no `if provider == ...` chains across the code).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from social_core.backends.base import BaseAuth
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


class UpstreamTokenRejected(Exception):
    """An upstream access token that is not valid, or was issued to some other app than ours."""


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# ---------------------------------------------------------------------------------------------
# Google: OpenID Connect claims (userinfo v3)
# ---------------------------------------------------------------------------------------------


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


GOOGLE_TOKENINFO_URL = "https://oauth2.googleapis.com/tokeninfo"


def _google_token_owner(backend: BaseAuth, token: str) -> str:
    """Google's tokeninfo names the OAuth client a token was issued to (`aud`, and `azp` for the app)."""
    # POSTed in the body: the token stays out of URLs and request logs.
    info = backend.get_json(GOOGLE_TOKENINFO_URL, method="POST", data={"access_token": token}, stage="token_validation")
    ours = {settings.SOCIAL_AUTH_GOOGLE_OAUTH2_KEY, *settings.GATEHOUSE_GOOGLE_NATIVE_CLIENT_IDS}
    audiences = {info.get("aud"), info.get("azp")} - {None}
    # Both must be ours when present: `azp` is the app that asked for the token, `aud` its audience.
    if not audiences or not audiences <= ours or not _text(info.get("sub")):
        raise UpstreamTokenRejected("google: token issued to another client")
    return info["sub"]


# ---------------------------------------------------------------------------------------------
# Kakao: https://developers.kakao.com/docs/latest/en/kakaologin/rest-api
# ---------------------------------------------------------------------------------------------


def _kakao(response: dict, details: dict) -> Profile:
    account = response.get("kakao_account") or {}
    profile = account.get("profile") or {}
    properties = response.get("properties") or {}
    # Kept exactly as written: "홍길동" stays "홍길동" (social-core would cut it into first/last names).
    nickname = _text(profile.get("nickname")) or _text(properties.get("nickname"))
    return Profile(
        # Absent when the person declined the email consent item: they still sign in, without an email.
        email=_text(account.get("email")).lower(),
        # Kakao vouches for an email only when it is both valid (still reachable) and verified.
        email_verified=account.get("is_email_valid") is True and account.get("is_email_verified") is True,
        name=nickname,
        nickname=nickname,
        picture=_text(profile.get("profile_image_url")) or _text(properties.get("profile_image")),
    )


KAKAO_TOKEN_INFO_URL = "https://kapi.kakao.com/v1/user/access_token_info"


def _kakao_token_owner(backend: BaseAuth, token: str) -> str:
    """Kakao's access_token_info names the app (`app_id`) a token was issued to."""
    info = backend.get_json(KAKAO_TOKEN_INFO_URL, headers=_bearer(token), stage="token_validation")
    app_id = settings.GATEHOUSE_KAKAO_APP_ID
    if not app_id or str(info.get("app_id")) != app_id or not info.get("id"):
        raise UpstreamTokenRejected("kakao: token issued to another app")
    return str(info["id"])


# ---------------------------------------------------------------------------------------------
# Facebook: Graph API, fields asked for explicitly (SOCIAL_AUTH_FACEBOOK_PROFILE_EXTRA_PARAMS)
# ---------------------------------------------------------------------------------------------


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


def _facebook_token_owner(backend: BaseAuth, token: str) -> str:
    """Facebook's debug_token, asked with our app token, names the app (`app_id`) a token belongs to."""
    app_id, app_secret = backend.get_key_and_secret()
    version = backend.setting("API_VERSION", "24.0")
    answer = backend.get_json(
        f"https://graph.facebook.com/v{version}/debug_token",
        # Our app token goes in the header; only the token under inspection is a query parameter.
        headers=_bearer(f"{app_id}|{app_secret}"),
        params={"input_token": token},
        stage="token_validation",
    )
    data = answer.get("data") or {}
    if data.get("is_valid") is not True or str(data.get("app_id")) != str(app_id) or not data.get("user_id"):
        raise UpstreamTokenRejected("facebook: token not valid for our app")
    return str(data["user_id"])


# ---------------------------------------------------------------------------------------------
# Any OpenID Connect upstream, and the development upstream
# ---------------------------------------------------------------------------------------------


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
    brand: str  # the provider's own name (translatable); the generic OIDC upstream's comes from settings
    css_class: str  # the button's brand style (static/gatehouse.css)
    read_profile: Callable[[dict, dict], Profile] = field(repr=False)
    # The upstream account id an access token belongs to, or UpstreamTokenRejected (RFC 8693 exchange).
    token_owner: Callable[[BaseAuth, str], str] | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        if self.backend == "oidc":
            return settings.GATEHOUSE_OIDC_UPSTREAM_NAME
        return self.brand

    @property
    def icon_template(self) -> str:
        return f"federation/icons/{self.backend}.svg"


PROVIDERS: dict[str, Provider] = {
    p.backend: p
    for p in (
        # Brand names are translatable too: Kakao is "카카오" in Korean.
        Provider("kakao", _("Kakao"), "btn-kakao", _kakao, _kakao_token_owner),
        Provider("google-oauth2", _("Google"), "btn-google", _google, _google_token_owner),
        Provider("facebook", _("Facebook"), "btn-facebook", _facebook, _facebook_token_owner),
        Provider("oidc", "OpenID Connect", "btn-oidc", _oidc),
        Provider("dev", _("Development login"), "btn-dev", _dev),
    )
}


def offered_providers() -> list[Provider]:
    """The upstreams whose backend is configured (INTERFACE.md: offered iff its KEY is set)."""
    enabled = load_backends(settings.AUTHENTICATION_BACKENDS)
    return [provider for name, provider in PROVIDERS.items() if name in enabled]


def provider_name(backend_name: str) -> str:
    provider = PROVIDERS.get(backend_name)
    return provider.name if provider else backend_name
