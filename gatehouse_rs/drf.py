"""Django REST framework authentication with Gatehouse's JWT access tokens, validated locally.

    # settings.py
    GATEHOUSE_ISSUER = "https://id.example.com"          # Gatehouse's GATEHOUSE_URL
    GATEHOUSE_AUDIENCE = "https://api.example.com"       # what clients ask for with resource=...
    REST_FRAMEWORK = {"DEFAULT_AUTHENTICATION_CLASSES": ["gatehouse_rs.drf.GatehouseJWTAuthentication"]}

    # views.py
    class Orders(APIView):
        permission_classes = [HasScopes]
        required_scopes = ["orders:read"]

request.user is a TokenUser (sub, client_id, scopes); override `get_user` to map `sub` to your own users.
request.auth is the verified gatehouse_rs.AccessToken.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission

from gatehouse_rs import AccessToken, InvalidToken, verify_access_token


@dataclass(frozen=True)
class TokenUser:
    """Who the token speaks for. Not a database user: Gatehouse is where people live."""

    sub: str
    client_id: str
    scopes: frozenset[str]

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False

    @property
    def pk(self) -> str:
        return self.sub

    def __str__(self) -> str:
        return self.sub


class GatehouseJWTAuthentication(BaseAuthentication):
    """`Authorization: Bearer <JWT access token>` (RFC 6750), checked against the issuer's cached JWKS."""

    www_authenticate_realm = "api"

    def issuer(self) -> str:
        return settings.GATEHOUSE_ISSUER

    def audience(self) -> str:
        return settings.GATEHOUSE_AUDIENCE

    def get_user(self, token: AccessToken):
        return TokenUser(sub=token.sub, client_id=token.client_id, scopes=token.scopes)

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != b"bearer":
            return None  # not ours: another authentication class may know it
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header.")
        try:
            token = verify_access_token(header[1].decode("ascii"), audience=self.audience(), issuer=self.issuer())
        except (InvalidToken, UnicodeDecodeError) as error:
            raise exceptions.AuthenticationFailed(str(error)) from None
        return self.get_user(token), token

    def authenticate_header(self, request) -> str:
        # RFC 6750 §3: a 401 names the scheme, so clients know to fetch a new token.
        return f'Bearer realm="{self.www_authenticate_realm}", error="invalid_token"'


class HasScopes(BasePermission):
    """The view's `required_scopes` must all be in the token (403 `insufficient_scope` otherwise)."""

    message = "The access token lacks a scope this endpoint requires."

    def has_permission(self, request, view) -> bool:
        token = request.auth
        return isinstance(token, AccessToken) and token.has_scopes(getattr(view, "required_scopes", ()))
