"""The upstream identity providers' social-core backends, adjusted where the stock ones are unsafe."""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models import F
from django.urls import reverse
from social_core.backends.facebook import API_VERSION as FACEBOOK_API_VERSION
from social_core.backends.facebook import FacebookOAuth2 as _StockFacebookOAuth2
from social_core.backends.google_openidconnect import GoogleOpenIdConnect
from social_core.backends.kakao import KakaoOAuth2 as _StockKakaoOAuth2
from social_core.backends.oauth import BaseOAuth2
from social_core.backends.open_id_connect import OpenIdConnectAuth as _StockOpenIdConnectAuth
from social_core.exceptions import AuthInputError

__all__ = ["DevelopmentAuth", "FacebookOAuth2", "GoogleOAuth2", "KakaoOAuth2", "OpenIdConnectAuth"]


# The stock backends are subclassed, not re-exported: social-auth records the signed-in backend in the
# session as `<class.__module__>.<class name>`, and Django keeps a session only if that path is listed in
# AUTHENTICATION_BACKENDS. A re-exported class would be recorded as `social_core.backends...` and every
# sign-in through it would be dropped on the next request.


class SpendNonceOnce:
    """Check and spend the ID token's nonce with one DELETE (social-core reads it, then deletes it).

    social-core's `validate_claims` accepts the nonce only if it is stored for this authorization URL,
    was issued for the `state` this browser's sign-in started with, and has not expired; then it deletes
    it. The same conditions in the DELETE's WHERE clause give the same answer in one statement: one row
    deleted means valid and now spent (federation/storage.py does the same for storing it).
    """

    def get_nonce(self, nonce):
        transaction = self._oidc_association_transaction if self.ASSOCIATION_ONLY else self._oauth2_transaction
        state = transaction.get("state") if isinstance(transaction, dict) else None
        if not isinstance(state, str) or not state:
            return None
        now = int(time.time())
        spent, _ = self.strategy.storage.association.objects.filter(
            server_url=self.authorization_url(), handle=nonce, assoc_type=state,
            lifetime__gt=0, issued__gt=now - F("lifetime"),  # social-core's Association.is_expired(), negated
        ).delete()
        return SpentNonce(assoc_type=state) if spent else None

    def remove_nonce(self, nonce_id) -> None:
        if nonce_id is not None:
            super().remove_nonce(nonce_id)


@dataclass(frozen=True)
class SpentNonce:
    """What `get_nonce` returns for a nonce it has already spent: nothing is left to remove."""

    assoc_type: str
    id: None = None


class GoogleOAuth2(SpendNonceOnce, GoogleOpenIdConnect):
    """Google as an OpenID Connect upstream, under the backend name `google-oauth2` (INTERFACE.md).

    social-core's `google-oauth2` backend trusts whatever the userinfo endpoint says; its OpenID Connect
    backend also validates Google's ID token (signature, issuer, audience, `at_hash`) and binds it to the
    sign-in with a nonce. PKCE (RFC 7636, S256) on top protects the code on its way back.
    """

    name = "google-oauth2"
    DEFAULT_USE_PKCE = True
    # Pinned rather than discovered: nothing is fetched from Google before the person comes back.
    AUTHORIZATION_URL = "https://accounts.google.com/o/oauth2/auth"
    ACCESS_TOKEN_URL = "https://accounts.google.com/o/oauth2/token"
    USERINFO_URL = "https://www.googleapis.com/oauth2/v3/userinfo"
    JWKS_URI = "https://www.googleapis.com/oauth2/v3/certs"
    TOKEN_ENDPOINT_AUTH_METHOD = "client_secret_post"
    # Google signs ID tokens with either spelling of its issuer (OpenID Connect docs, "Validating an ID token").
    ID_TOKEN_ISSUERS = ("https://accounts.google.com", "accounts.google.com")

    def id_token_issuer(self) -> tuple[str, ...]:  # type: ignore[override]
        return self.ID_TOKEN_ISSUERS

    def user_data(self, access_token: str, *args, **kwargs) -> dict[str, Any] | None:
        # The stock OpenID Connect Google backend sends the token in the query string; a header keeps it
        # out of URLs and request logs.
        response = self.get_json(self.USERINFO_URL, headers={"Authorization": f"Bearer {access_token}"})
        if self.id_token is not None:
            self.validate_userinfo_sub(response)
        self.validate_email_verified(response)
        return response


class FacebookOAuth2(_StockFacebookOAuth2):
    """Facebook, with the person's access token in the Authorization header of the profile request.

    The stock backend sends it as `?access_token=`, where proxies and urllib3's debug log keep it.
    """

    def user_data(self, access_token: str, *args, **kwargs) -> dict[str, Any] | None:
        params = dict(self.setting("PROFILE_EXTRA_PARAMS", {}))
        _, secret = self.get_key_and_secret()
        # appsecret_proof: Graph API calls made with a stolen token fail without our app secret.
        params["appsecret_proof"] = hmac.new(secret.encode(), access_token.encode(), hashlib.sha256).hexdigest()
        version = self.setting("API_VERSION", FACEBOOK_API_VERSION)
        return self.get_json(
            self.USER_DATA_URL.format(version=version),
            params=params,
            headers={"Authorization": f"Bearer {access_token}"},
        )


class OpenIdConnectAuth(SpendNonceOnce, _StockOpenIdConnectAuth):
    """A generic OpenID Connect upstream: social-core validates its ID token (signature, iss, aud, nonce)."""


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
