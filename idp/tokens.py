"""Access tokens as JWTs (RFC 9068), for the clients that chose them; opaque random strings for the rest.

django-oauth-toolkit asks oauthlib's BearerToken for each new access token through ACCESS_TOKEN_GENERATOR
(idp/settings.py). Whatever this returns is also what DOT records (as a SHA-256 checksum, RFC 9700 token
storage), so introspection, userinfo and revocation work the same for both formats. Refresh tokens stay
opaque (REFRESH_TOKEN_GENERATOR): only Gatehouse ever reads them.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from django.conf import settings
from jwcrypto import jws
from jwcrypto.common import json_encode
from oauth2_provider.settings import oauth2_settings
from oauthlib.common import Request as OAuthlibRequest

from idp import keys

# RFC 9068 §2.1: the media type of a JWT access token, so it cannot be mistaken for an ID token.
JWT_ACCESS_TOKEN_TYPE = "at+jwt"
ALGORITHM = "RS256"


def opaque_token_generator(request: OAuthlibRequest | None = None, refresh_token: bool = False) -> str:
    """256 random bits, URL-safe (oauthlib's generator draws 30 characters one by one: ~30x the CPU)."""
    return secrets.token_urlsafe(32)


def access_token_generator(request: OAuthlibRequest, refresh_token: bool = False) -> str:
    """oauthlib's token_generator: an RFC 9068 JWT for clients whose format is `jwt`, else a random string."""
    client = getattr(request, "client", None)
    if client is None or getattr(client, "access_token_format", "opaque") != "jwt":
        return opaque_token_generator(request)
    return jwt_access_token(request)


def _audience(request: OAuthlibRequest) -> str | list[str]:
    """RFC 9068 §3: the requested resource(s) (RFC 8707), or by default the client itself.

    DOT normalises and checks `resource` (absolute URIs; a code or refresh token's resources may only be
    narrowed) when it saves the token, which happens after this. Doing it here first means a token never
    names an audience DOT would refuse; DOT's second pass over the already-normalised list changes nothing.
    """
    oauth2_settings.OAUTH2_VALIDATOR_CLASS()._check_and_set_request_resource(request)
    resources = list(request.resource or [])
    if not resources:
        return request.client.client_id
    return resources[0] if len(resources) == 1 else resources


def jwt_claims(request: OAuthlibRequest, *, now: int | None = None) -> dict[str, Any]:
    """The claims of RFC 9068 §2.2 for the token being issued on this oauthlib request."""
    client = request.client
    issued_at = int(time.time()) if now is None else now
    user = getattr(request, "user", None)
    if request.grant_type == "client_credentials" or user is None:
        # RFC 9068 §2.2: no resource owner, so `sub` names the client itself.
        subject = client.client_id
    else:
        subject = user.sub  # the opaque, stable identifier: never the row id (OIDC Core §8)
    return {
        "iss": settings.GATEHOUSE_URL,
        "aud": _audience(request),
        "sub": subject,
        "client_id": client.client_id,
        "scope": " ".join(request.scopes or []),
        "iat": issued_at,
        "exp": issued_at + int(getattr(request, "expires_in", None) or oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS),
        "jti": secrets.token_urlsafe(16),
    }


def jwt_access_token(request: OAuthlibRequest) -> str:
    """Sign the claims with Gatehouse's active key (idp.keys), naming it by `kid` for resource servers."""
    current = keys.keyset()
    header = {"typ": JWT_ACCESS_TOKEN_TYPE, "alg": ALGORITHM, "kid": current.active_kid}
    token = jws.JWS(json_encode(jwt_claims(request)).encode())
    token.add_signature(current.active, alg=ALGORITHM, protected=json.dumps(header))
    return token.serialize(compact=True)
