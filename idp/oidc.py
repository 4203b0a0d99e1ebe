"""Gatehouse's rules for django-oauth-toolkit: claims, scopes, keys. The protocol itself stays DOT's."""

from __future__ import annotations

import json

from jwcrypto import jws
from jwcrypto.common import JWException
from oauth2_provider.oauth2_validators import OAuth2Validator

from idp import keys


def _user(request):
    return request.user


class GatehouseValidator(OAuth2Validator):
    # Request-agnostic claims (no `request` parameter): DOT then lists all of them in discovery's
    # `claims_supported`. Each is released only with its scope (`oidc_claim_scope`).
    def get_additional_claims(self):
        return {
            "name": lambda r: _user(r).get_full_name(),
            "given_name": lambda r: _user(r).first_name,
            "family_name": lambda r: _user(r).last_name,
            "preferred_username": lambda r: _user(r).username,
            "picture": lambda r: _user(r).picture,
            "locale": lambda r: _user(r).locale,
            "email": lambda r: _user(r).email,
            "email_verified": lambda r: _user(r).email_verified,
        }

    def get_claim_dict(self, request):
        claims = super().get_claim_dict(request)
        # OIDC Core §2: `sub` is opaque and stable, never the database row id DOT uses by default.
        claims["sub"] = lambda r: _user(r).sub
        return claims

    def get_oidc_claims(self, token, token_handler, request):
        # Leave out empty profile claims rather than asserting "" for a name nobody gave us.
        claims = super().get_oidc_claims(token, token_handler, request)
        return {k: v for k, v in claims.items() if v not in ("", None)}

    def validate_scopes(self, client_id, scopes, client, request, *args, **kwargs):
        # A client may ask only for the scopes registered for it (`invalid_scope` otherwise).
        return super().validate_scopes(client_id, scopes, client, request, *args, **kwargs) and set(
            scopes
        ).issubset(client.allowed_scopes)

    def get_default_scopes(self, client_id, request, *args, **kwargs):
        allowed = request.client.allowed_scopes
        return sorted(allowed & {"openid"}) or sorted(allowed)

    # prompt=none: the authorization view decides consent (clients.views); a request reaching
    # validation from an unauthenticated session is answered `login_required` by DOT itself.
    def validate_silent_login(self, request):
        return True

    def validate_silent_authorization(self, request):
        return True

    def _get_key_for_token(self, token):
        """The key named by the token's `kid`, so ID tokens signed before a rotation still verify."""
        header = jwt_header(token)
        if header.get("alg") != "RS256":
            return None
        return keys.key_for_kid(header.get("kid"))


def jwt_header(token: str) -> dict:
    """The unverified JOSE header of a compact JWT (for picking a key), or {} if it is not one."""
    try:
        unverified = jws.JWS()
        unverified.deserialize(token)
        return dict(unverified.jose_header)
    except (JWException, ValueError, TypeError, json.JSONDecodeError):
        return {}
