"""The upstream identity providers' social-core backends, adjusted where the stock ones are unsafe."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.urls import reverse
from social_core.backends.facebook import FacebookOAuth2 as _StockFacebookOAuth2
from social_core.backends.google import GoogleOAuth2 as _StockGoogleOAuth2
from social_core.backends.kakao import KakaoOAuth2 as _StockKakaoOAuth2
from social_core.backends.oauth import BaseOAuth2
from social_core.backends.open_id_connect import OpenIdConnectAuth as _StockOpenIdConnectAuth
from social_core.exceptions import AuthInputError

__all__ = ["DevelopmentAuth", "FacebookOAuth2", "GoogleOAuth2", "KakaoOAuth2", "OpenIdConnectAuth"]


# The stock backends are subclassed, not re-exported: social-auth records the signed-in backend in the
# session as `<class.__module__>.<class name>`, and Django keeps a session only if that path is listed in
# AUTHENTICATION_BACKENDS. A re-exported class would be recorded as `social_core.backends...` and every
# sign-in through it would be dropped on the next request.
class GoogleOAuth2(_StockGoogleOAuth2):
    """Google, as social-core has it."""


class FacebookOAuth2(_StockFacebookOAuth2):
    """Facebook, as social-core has it."""


class OpenIdConnectAuth(_StockOpenIdConnectAuth):
    """A generic OpenID Connect upstream, as social-core has it."""


class KakaoOAuth2(_StockKakaoOAuth2):
    """Kakao, with the access token only in the Authorization header.

    The stock backend also puts it in the query string, where proxies and urllib3's debug log keep it.
    """

    def user_data(self, access_token: str, *args, **kwargs) -> dict[str, Any] | None:
        return self.get_json(
            "https://kapi.kakao.com/v2/user/me",
            headers={"Authorization": f"Bearer {access_token}"},
        )


class DevelopmentAuth(BaseOAuth2):
    """The built-in development upstream: type an email and a name (GATEHOUSE_DEV_LOGIN=1, DEBUG=1 only).

    A real social-core backend, so a development sign-in runs through the same pipeline as Kakao or Google.
    It is only listed in AUTHENTICATION_BACKENDS when enabled (idp/settings.py), so it cannot be reached otherwise.
    """

    name = "dev"
    title = "Development login"
    STATE_PARAMETER = True
    REDIRECT_STATE = False

    def auth_url(self) -> str:
        state = self.get_or_create_state()
        return f"{reverse('federation:dev-login')}?{urlencode({'state': state})}"

    def auth_complete(self, *args, **kwargs):
        self.process_error(self.data)
        self.validate_state()
        email = (self.data.get("email") or "").strip().lower()
        try:
            validate_email(email)
        except ValidationError:
            raise AuthInputError(self, parameter="email", code="invalid_parameter", stage="callback") from None
        response = {
            "email": email,
            "name": (self.data.get("name") or "").strip()[:150],
            "email_verified": self.data.get("email_verified") in ("1", "on", "true"),
        }
        kwargs.update({"response": response, "backend": self})
        return self.strategy.authenticate(*args, **kwargs)

    def get_user_id(self, details, response):
        return response["email"]

    def get_user_details(self, response):
        return {"email": response["email"], "fullname": response["name"], "username": response["name"]}
