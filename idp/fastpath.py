"""The machine-facing endpoints skip the middleware that only people's browsers need.

Token, introspection, revocation, userinfo, JWKS and discovery are called by client apps and resource
servers, never by a browser with a session: they read no session, user, language, CSRF token or message,
and answer JSON that no CSP or frame policy applies to. Running those nine middleware cost about a third of
a token request's CPU (docs/performance.md). Everything above this middleware in MIDDLEWARE (request ids,
metrics, SecurityMiddleware's headers) still runs for them.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth.models import AnonymousUser
from django.core.signals import setting_changed
from django.http import HttpRequest, HttpResponse
from django.urls import resolve

# Exact paths (the views are csrf_exempt or read-only, and authenticate with client credentials or a
# bearer token, never a cookie). /o/authorize/ and /o/logout/ are pages for people: not here.
API_PATHS = frozenset({
    "/o/token/",
    "/o/introspect/",
    "/o/revoke_token/",
    "/o/userinfo/",
    "/o/.well-known/jwks.json",
    "/o/.well-known/openid-configuration",
    "/o/.well-known/openid-configuration/",
    "/.well-known/openid-configuration",
    "/.well-known/oauth-authorization-server",
})


class ApiFastPathMiddleware:
    """For API_PATHS, call the view at once; every other request goes down the whole stack."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info not in API_PATHS:
            return self.get_response(request)
        match = resolve(request.path_info)
        request.resolver_match = match
        # Nothing on these paths reads the session's user; code that asks anyway sees nobody signed in.
        request.user = AnonymousUser()
        # Exceptions are turned into responses by Django's wrapper around this middleware, as for any view.
        return match.func(request, *match.args, **match.kwargs)


def cache_document(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Serve a metadata document (discovery) built once per process instead of once per request.

    The document depends only on settings, so it is built again only after a settings change (tests).
    Only successful GETs are kept; anything else goes to the view.
    """
    cached: dict[str, HttpResponse] = {}

    def forget(**kwargs) -> None:
        cached.clear()

    setting_changed.connect(forget, weak=False)

    def serve(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.method != "GET":
            return view(request, *args, **kwargs)
        response = cached.get("document")
        if response is None:
            response = view(request, *args, **kwargs)
            if response.status_code != 200:
                return response
            cached["document"] = response
        # A fresh response object each time (middleware adds headers to it), sharing the built body.
        copy = HttpResponse(response.content, status=200, content_type=response["Content-Type"])
        for header, value in response.items():
            copy[header] = value
        return copy

    serve.__wrapped__ = view  # type: ignore[attr-defined]
    return serve
