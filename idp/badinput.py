"""Malformed requests are refused with a 400 before any view, library or database sees them.

django-oauth-toolkit and oauthlib answer a 500 to each of these (GOTCHAS.md, "Faults seen"): a bad
%-escape in the query string or a form body, a NUL byte (PostgreSQL refuses it in text), a broken
multipart body, more than DATA_UPLOAD_MAX_NUMBER_FIELDS fields, `grant_type=openid`, and a device-code
grant without `device_code`; and a NUL in HTTP Basic credentials (DOT queries the client_id as it comes).
OAuth endpoints get RFC 6749 §5.2 JSON; pages get the readable 400 page.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from urllib.parse import unquote_plus

from django.core.exceptions import BadRequest, SuspiciousOperation
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import render
from django.utils import translation

# Every /o/ endpoint except the two that are pages for people.
OAUTH_PREFIX = "/o/"
OAUTH_PAGES = ("/o/authorize/", "/o/logout/")
JSON_PREFIXES = ("/api/",)
# A '%' not followed by two hex digits: oauthlib raises ValueError on it (rfc6749 urldecode).
BAD_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")
DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def wants_json(path: str) -> bool:
    if path.startswith(OAUTH_PREFIX):
        return not path.startswith(OAUTH_PAGES)
    return path.startswith(JSON_PREFIXES)


def _nul_in_credentials(authorization: str) -> bool:
    """A NUL in the Authorization header, or in the client_id/secret of its Basic credentials.

    django-oauth-toolkit base64-decodes Basic credentials and %-decodes each half (RFC 6749 §2.3.1), then
    queries the client_id: PostgreSQL refuses NUL in text, a 500 on /o/token/, /o/introspect/ and
    /o/revoke_token/. Latin-1 maps every byte to one character, so a raw 0x00 and a %00 both show here.
    """
    if "\x00" in authorization:
        return True
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(credentials)  # as leniently as DOT does
    except (binascii.Error, ValueError):
        return False
    return "\x00" in unquote_plus(decoded.decode("latin-1"))


def _problem(request: HttpRequest) -> tuple[str, str] | None:
    """(error, description) if the request is malformed, else None."""
    if BAD_ESCAPE.search(request.META.get("QUERY_STRING", "").encode("latin-1", "replace")):
        return "invalid_request", "The query string has an invalid %-escape."
    try:
        query = request.GET
        form = request.POST if request.method == "POST" else None
    except (SuspiciousOperation, MultiPartParserError, BadRequest, UnicodeDecodeError, ValueError):
        # TooManyFieldsSent, RequestDataTooBig, a multipart body that does not parse, undecodable bytes.
        return "invalid_request", "The request body or query string cannot be parsed."
    if form is not None and request.content_type == "application/x-www-form-urlencoded":
        if BAD_ESCAPE.search(request.body):
            return "invalid_request", "The request body has an invalid %-escape."
    for params in (query, form):
        if params is None:
            continue
        for key, values in params.lists():
            if "\x00" in key or any("\x00" in value for value in values):
                return "invalid_request", "Parameters must not contain NUL characters."
    if _nul_in_credentials(request.META.get("HTTP_AUTHORIZATION", "")):
        return "invalid_request", "Client credentials must not contain NUL characters."
    if request.path_info == "/o/token/" and form is not None:
        grant_type = form.get("grant_type", "")
        # `openid` is a scope that oauthlib also registers as a grant handler name: DOT then asserts.
        if grant_type == "openid":
            return "unsupported_grant_type", "The grant type is not supported."
        if grant_type == DEVICE_CODE_GRANT and not form.get("device_code"):
            return "invalid_request", "The device_code parameter is missing."
    return None


def bad_request(request: HttpRequest, error: str, description: str) -> HttpResponse:
    if wants_json(request.path_info):
        response = JsonResponse({"error": error, "error_description": description}, status=400)
        response["Cache-Control"] = "no-store"
        return response
    # This runs before LocaleMiddleware: choose the person's language here.
    with translation.override(translation.get_language_from_request(request)):
        response = render(request, "400.html", status=400)
    # The frame and content policies' middleware come after this one: no page of ours may be framed.
    response["X-Frame-Options"] = "DENY"
    response["Content-Security-Policy"] = "default-src 'self'; frame-ancestors 'none'"
    return response


class BadInputMiddleware:
    """Refuses requests that would crash a library further down with a 400 (JSON or page)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        problem = _problem(request)
        if problem is not None:
            return bad_request(request, *problem)
        return self.get_response(request)
