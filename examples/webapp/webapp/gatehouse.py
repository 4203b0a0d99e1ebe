"""Talking to Gatehouse: Authlib's OpenID Connect client, and checking back-channel logout tokens."""

from __future__ import annotations

from authlib.integrations.django_client import OAuth
from django.conf import settings
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

# OpenID Connect Back-Channel Logout 1.0 §2.4.
LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"

oauth = OAuth()
# Everything else (endpoints, keys) comes from Gatehouse's discovery document. Authlib makes the PKCE
# verifier (S256), the state and the nonce, and checks the ID token: signature against the JWKS, iss,
# aud, exp, nonce.
oauth.register(
    name="gatehouse",
    server_metadata_url=f"{settings.GATEHOUSE_URL}/.well-known/openid-configuration",
    client_kwargs={"scope": "openid profile email", "code_challenge_method": "S256"},
)
gatehouse = oauth.gatehouse


class InvalidLogoutToken(Exception):
    pass


def verify_logout_token(raw: str) -> dict:
    """The claims of a valid logout token (Back-Channel Logout 1.0 §2.6), or InvalidLogoutToken."""
    metadata = gatehouse.load_server_metadata()
    try:
        try:
            token = jwt.decode(raw, KeySet.import_key_set(gatehouse.fetch_jwk_set()), algorithms=["RS256"])
        except InvalidKeyIdError:  # a key Gatehouse rotated in since we fetched its JWKS
            token = jwt.decode(raw, KeySet.import_key_set(gatehouse.fetch_jwk_set(force=True)), algorithms=["RS256"])
        jwt.JWTClaimsRegistry(
            leeway=60,
            iss={"essential": True, "value": metadata["issuer"]},
            aud={"essential": True, "value": settings.GATEHOUSE_CLIENT_ID},
            iat={"essential": True},
            exp={"essential": True},
            jti={"essential": True},
            events={"essential": True},
        ).validate(token.claims)
    except (JoseError, ValueError) as error:
        raise InvalidLogoutToken(str(error)) from None
    claims = token.claims
    if token.header.get("typ") != "logout+jwt":
        raise InvalidLogoutToken("not a logout token (typ)")
    if not isinstance(claims["events"], dict) or LOGOUT_EVENT not in claims["events"]:
        raise InvalidLogoutToken("no back-channel logout event")
    if "nonce" in claims:  # an ID token would carry one: never accept one as a logout token
        raise InvalidLogoutToken("a logout token has no nonce")
    if not claims.get("sid") and not claims.get("sub"):
        raise InvalidLogoutToken("neither sid nor sub")
    return claims
