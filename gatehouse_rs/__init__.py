"""Validate Gatehouse's JWT access tokens (RFC 9068) inside your own API, without calling Gatehouse.

    from gatehouse_rs import verify_access_token, InvalidToken

    token = verify_access_token(raw, issuer="https://id.example.com", audience="https://api.example.com")
    token.sub, token.client_id, token.scopes, token.claims

The signing keys come from the issuer's JWKS (found through its OpenID Connect discovery document) and
are cached in the process: fetched once, again when the cache is older than `max_age` seconds, and again
when a token names a key id (`kid`) the cache does not know - a fresh key rotation - but then at most once
every `refetch_interval` seconds, so made-up `kid`s cannot turn your API into a JWKS-fetching machine.
Nothing is fetched per request. Depends only on PyJWT with its `cryptography` extra.

Copy this folder into your project (or vendor it); the Django REST framework class is in
gatehouse_rs/drf.py. docs/resource-servers.md explains both, and when to call introspection instead.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import jwt

__all__ = ["AccessToken", "InvalidToken", "JWKSCache", "TokenVerifier", "verify_access_token"]

# RFC 9068 §4: the `typ` header of a JWT access token; "application/at+jwt" is the same media type.
ACCEPTED_TYPES = frozenset({"at+jwt", "application/at+jwt"})
ALGORITHMS = ["RS256"]
REQUIRED_CLAIMS = ["iss", "exp", "aud", "sub", "client_id", "iat", "jti"]


class InvalidToken(Exception):
    """The token is not a valid access token for this API (answer 401 with `invalid_token`)."""


@dataclass(frozen=True)
class AccessToken:
    """A verified access token."""

    sub: str  # the person's opaque id at Gatehouse, or the client_id for a client-credentials token
    client_id: str
    scopes: frozenset[str]
    claims: dict[str, Any] = field(repr=False)

    def has_scopes(self, required: Iterable[str]) -> bool:
        return set(required) <= self.scopes


def _fetch_json(url: str, timeout: float) -> Any:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (https in production)
        return json.load(response)


class JWKSCache:
    """The issuer's public keys by `kid`, fetched through its discovery document and kept in memory."""

    def __init__(self, issuer: str, *, max_age: float = 300, refetch_interval: float = 30, timeout: float = 5,
                 fetch: Callable[[str, float], Any] | None = None) -> None:
        self.issuer = issuer.rstrip("/")
        self.max_age = max_age
        self.refetch_interval = refetch_interval
        self.timeout = timeout
        self.fetches = 0
        self._fetch = fetch if fetch is not None else _fetch_json
        self._keys: dict[str, Any] = {}
        self._fetched_at = float("-inf")  # the last successful fetch
        self._attempted_at = float("-inf")  # the last attempt, successful or not
        self._jwks_uri: str | None = None
        self._lock = threading.Lock()

    def key(self, kid: str | None) -> Any:
        """The public key named `kid`, or InvalidToken."""
        if not kid:
            raise InvalidToken("the token names no key (kid)")
        key = self._keys.get(kid)
        now = time.monotonic()
        # Look again when the keys are old, or when the kid is unknown (perhaps a fresh rotation) - but
        # never more often than refetch_interval, whatever the tokens say.
        if (key is None or now - self._fetched_at > self.max_age) and now - self._attempted_at > self.refetch_interval:
            self._refresh()
            key = self._keys.get(kid)
        if key is None:
            if not self._keys:
                raise InvalidToken("the issuer's keys cannot be fetched")
            raise InvalidToken("the token is signed with a key the issuer does not publish")
        return key

    def _refresh(self) -> None:
        with self._lock:
            if time.monotonic() - self._attempted_at <= self.refetch_interval:
                return  # another thread looked while this one waited for the lock
            self._attempted_at = time.monotonic()
            try:
                if self._jwks_uri is None:
                    discovery = self._fetch(f"{self.issuer}/.well-known/openid-configuration", self.timeout)
                    if discovery.get("issuer") != self.issuer:
                        raise ValueError("the discovery document names another issuer")
                    self._jwks_uri = discovery["jwks_uri"]
                jwks = self._fetch(self._jwks_uri, self.timeout)
                keys = {
                    entry["kid"]: jwt.PyJWK(entry, algorithm="RS256").key
                    for entry in jwks.get("keys", [])
                    if entry.get("kty") == "RSA" and entry.get("use", "sig") == "sig" and entry.get("kid")
                }
            except (OSError, ValueError, KeyError, TypeError, AttributeError, jwt.PyJWTError):
                # Unreachable, or garbage: keep the keys we have (a short outage must not reject every
                # request) and look again after refetch_interval.
                return
            self._keys = keys
            self._fetched_at = time.monotonic()
            self.fetches += 1


def _header(token: str) -> dict[str, Any]:
    """The unverified JOSE header, only to choose the key; PyJWT then verifies everything.

    Read here rather than with jwt.get_unverified_header, which parses the whole token a first time and
    costs a third of a verification.
    """
    try:
        segment = token[: token.index(".")]
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, TypeError, AttributeError):
        raise InvalidToken("not a JWT") from None
    if not isinstance(header, dict):
        raise InvalidToken("not a JWT")
    return header


class TokenVerifier:
    """Checks JWT access tokens of one issuer for one API (audience)."""

    def __init__(self, *, issuer: str, audience: str, leeway: float = 30, jwks: JWKSCache | None = None) -> None:
        self.issuer = issuer.rstrip("/")
        self.audience = audience
        self.leeway = leeway
        self.jwks = jwks or JWKSCache(self.issuer)

    def verify(self, token: str, *, required_scopes: Iterable[str] = ()) -> AccessToken:
        header = _header(token)
        # RFC 9068 §4: the type tells an access token from an ID token signed with the same key.
        if str(header.get("typ", "")).lower() not in ACCEPTED_TYPES:
            raise InvalidToken("not a JWT access token (typ must be at+jwt)")
        if header.get("alg") not in ALGORITHMS:
            raise InvalidToken("unexpected signing algorithm")
        key = self.jwks.key(header.get("kid"))
        try:
            claims = jwt.decode(
                token, key, algorithms=ALGORITHMS, audience=self.audience, issuer=self.issuer,
                leeway=self.leeway, options={"require": REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("the token has expired") from None
        except jwt.PyJWTError as error:
            raise InvalidToken(f"invalid token: {error}") from None
        scopes = frozenset(str(claims.get("scope", "")).split())
        token_ = AccessToken(sub=str(claims["sub"]), client_id=str(claims["client_id"]), scopes=scopes, claims=claims)
        if not token_.has_scopes(required_scopes):
            raise InvalidToken("the token lacks a required scope")
        return token_


_verifiers: dict[tuple[str, str], TokenVerifier] = {}
_verifiers_lock = threading.Lock()


def verify_access_token(token: str, *, audience: str, issuer: str, required_scopes: Iterable[str] = ()) -> AccessToken:
    """Verify a Gatehouse JWT access token for `audience`; raises InvalidToken.

    One verifier (and so one JWKS cache) is kept per (issuer, audience) for the life of the process.
    """
    key = (issuer.rstrip("/"), audience)
    verifier = _verifiers.get(key)
    if verifier is None:
        with _verifiers_lock:
            verifier = _verifiers.setdefault(key, TokenVerifier(issuer=issuer, audience=audience))
    return verifier.verify(token, required_scopes=required_scopes)
