"""Rate limits on the endpoints worth guessing at: fixed windows counted in Django's cache.

With REDIS_URL the cache is Redis, so every node counts into the same counters; otherwise it is the
process's memory. Each request is counted per address and, where it presents credentials, per client
(a client id with its secret, or a bearer token). A cache that
does not answer lets the request through (with a warning): a Redis outage must not lock everyone out.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote_plus

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import translation
from django.utils.cache import add_never_cache_headers

logger = logging.getLogger(__name__)

# Machine-facing endpoints answer RFC 6749-shaped JSON; the others are pages for people.
OAUTH_PATHS = frozenset({"/o/token/", "/o/introspect/", "/o/revoke_token/"})
PAGE_PREFIXES = ("/login/", "/complete/")
API_PREFIX = "/api/"


@dataclass(frozen=True)
class Limited:
    retry_after: int
    json: bool


def _group(path: str) -> str | None:
    if path in OAUTH_PATHS:
        return "oauth"
    if path.startswith(API_PREFIX):
        return "api"
    # /login/<backend>/ and /complete/<backend>/, not the login page itself.
    if any(path.startswith(prefix) and len(path) > len(prefix) for prefix in PAGE_PREFIXES):
        return "pages"
    return None


def _client_key(request: HttpRequest, group: str) -> str | None:
    """Who the request proves to be: a client id with the secret it presents, or a bearer token.

    A client id alone is not counted: anyone can claim one, and counting claims would let them use up that
    client's limit and lock the real client out. The real client always sends the same secret, so its own
    runaway loop is still counted; a public client (no secret) is counted per address only, which also
    spares the users of a popular app from sharing one limit. The caller digests what this returns.
    """
    authorization = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "basic" and credentials:
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            decoded = ""
        # RFC 6749 §2.3.1: both halves are form-encoded, as django-oauth-toolkit decodes them.
        client_id, _, secret = (unquote_plus(part) for part in decoded.partition(":"))
        if client_id and secret:
            return f"client:{client_id}:{secret}"
    if scheme.lower() == "bearer" and credentials:
        return "bearer:" + credentials.strip()
    if group == "oauth" and request.method == "POST":
        # Already parsed, and found well-formed, by idp.badinput (the middleware before this one).
        client_id, secret = request.POST.get("client_id", ""), request.POST.get("client_secret", "")
        if client_id and secret:
            return f"client:{client_id}:{secret}"
    return None


def client_address(request: HttpRequest) -> str:
    """The caller's address: REMOTE_ADDR, or behind a trusted proxy the nearest untrusted X-Forwarded-For hop.

    Read from the right: each proxy appends the address that connected to it, so entries left of the
    first untrusted one may be anything the caller wrote.
    """
    address = request.META.get("REMOTE_ADDR", "")
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    while hops and _trusted(address):
        address = hops.pop()
    return address


def _trusted(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in settings.GATEHOUSE_TRUSTED_PROXIES)


def _count(key: str, window: int) -> int:
    """Add one to `key`'s counter for this window (created atomically, expiring with the window)."""
    cache.add(key, 0, timeout=window + 1)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=window + 1)
        return 1


def check(request: HttpRequest) -> Limited | None:
    """None if the request may go on; otherwise how long the caller must wait."""
    if not settings.GATEHOUSE_RATE_LIMITS:
        return None
    group = _group(request.path_info)
    if group is None:
        return None
    limits = settings.GATEHOUSE_RATE_LIMIT[group]
    window = settings.GATEHOUSE_RATE_LIMIT["window_seconds"]
    now = time.time()
    current = int(now // window)
    retry_after = max(1, int((current + 1) * window - now + 0.999))
    subjects = [("ip", client_address(request), limits["per_ip"])]
    client = _client_key(request, group)
    if client is not None and limits.get("per_client"):
        # A digest: never a secret or a token in a cache key (keys show up in Redis' MONITOR and slow logs),
        # and credentials of any length or charset make a valid key.
        subjects.append(("client", hashlib.sha256(client.encode("utf-8", "replace")).hexdigest()[:32], limits["per_client"]))
    try:
        for kind, ident, limit in subjects:
            if limit and _count(f"ratelimit:{group}:{kind}:{ident}:{current}", window) > limit:
                return Limited(retry_after=retry_after, json=group != "pages")
    except Exception:  # noqa: BLE001 - any cache failure (Redis down, timeout) must fail open
        logger.warning("rate limiting skipped: the cache is not answering", exc_info=True)
    return None


def too_many_requests(request: HttpRequest, limited: Limited) -> HttpResponse:
    if limited.json:
        # RFC 6749 §5.2's shape; `slow_down` is the RFC 8628 §3.5 code for exactly this.
        response = JsonResponse(
            {"error": "slow_down", "error_description": "Too many requests; retry after the Retry-After delay."},
            status=429,
        )
    else:
        # This runs before LocaleMiddleware: choose the person's language here.
        with translation.override(translation.get_language_from_request(request)):
            response = render(request, "429.html", {"retry_after": limited.retry_after}, status=429)
        # The frame and content policies' middleware come after this one: no page of ours may be framed.
        response["X-Frame-Options"] = "DENY"
        response["Content-Security-Policy"] = "default-src 'self'; frame-ancestors 'none'"
    response["Retry-After"] = str(limited.retry_after)
    add_never_cache_headers(response)
    return response


class RateLimitMiddleware:
    """Answers 429 with Retry-After once an address or a client is over its limit for this window."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limited = check(request)
        if limited is not None:
            return too_many_requests(request, limited)
        return self.get_response(request)
