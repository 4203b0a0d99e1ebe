"""Pages and endpoints of the provider core: discovery, keys, login, account, health."""

from __future__ import annotations

import calendar
import json

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import DatabaseError, connection, transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_POST
from oauth2_provider import views as dot_views
from oauth2_provider.signals import app_authorized
from oauth2_provider.views import (
    ConnectDiscoveryInfoView,
    IntrospectTokenView,
    JwksInfoView,
    OAuthServerMetadataView,
)

from idp import keys, oidc
from idp.sso import session_end


def _endpoint(name: str) -> str:
    return settings.GATEHOUSE_URL + reverse(f"oauth2_provider:{name}")


def _metadata_additions() -> dict:
    """What django-oauth-toolkit's discovery documents leave out (GOTCHAS.md)."""
    auth_methods = ["client_secret_basic", "client_secret_post"]
    return {
        "jwks_uri": _endpoint("jwks-info"),
        "introspection_endpoint": _endpoint("introspect"),
        "introspection_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint": _endpoint("revoke-token"),
        "revocation_endpoint_auth_methods_supported": auth_methods,
        # Without this, OIDC Discovery's default would imply the implicit grant, which we refuse.
        "grant_types_supported": list(settings.GATEHOUSE_GRANT_TYPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": [*auth_methods, "none"],
        "scopes_supported": list(settings.GATEHOUSE_SCOPES),
        "authorization_response_iss_parameter_supported": True,
    }


class DiscoveryView(ConnectDiscoveryInfoView):
    def get(self, request, *args, **kwargs):
        data = json.loads(super().get(request, *args, **kwargs).content)
        data.update(_metadata_additions())
        data["id_token_signing_alg_values_supported"] = ["RS256"]
        data["claims_supported"] = sorted({*data["claims_supported"], "auth_time", "iss", "aud", "exp", "iat"})
        data["request_parameter_supported"] = False
        data["claims_parameter_supported"] = False
        # OpenID Connect Back-Channel Logout 1.0 §2.1: logout tokens, with `sid` (idp/backchannel.py).
        data["backchannel_logout_supported"] = True
        data["backchannel_logout_session_supported"] = True
        response = JsonResponse(data)
        response["Access-Control-Allow-Origin"] = "*"
        return response


class ServerMetadataView(OAuthServerMetadataView):
    def get(self, request, *args, **kwargs):
        data = json.loads(super().get(request, *args, **kwargs).content)
        data.update(_metadata_additions())
        response = JsonResponse(data)
        response["Access-Control-Allow-Origin"] = "*"
        return response


class JwksView(JwksInfoView):
    """The public halves of the active key and of retired keys whose tokens may still be alive."""

    def get(self, request, *args, **kwargs):
        response = JsonResponse({"keys": keys.keyset().published})
        response["Access-Control-Allow-Origin"] = "*"
        max_age = settings.OAUTH2_PROVIDER["OIDC_JWKS_MAX_AGE_SECONDS"]
        response["Cache-Control"] = f"public, max-age={max_age}"
        return response


class TokenView(dot_views.TokenView):
    """django-oauth-toolkit's token endpoint, without a query nobody reads.

    After every successful grant DOT reads the new access token back from the database, only to pass it to
    its `app_authorized` signal. Gatehouse connects no receiver to that signal; if something ever does,
    DOT's own path runs unchanged.
    """

    # Grants that consume something (a code, a refresh token) run in one transaction, so the validator can
    # lock that row from the moment it first reads it until the new tokens are committed (idp/oidc.py):
    # concurrent requests for the same code or refresh token then queue behind the first, and find it
    # spent. DOT's own transaction covers only the saving of the tokens, after every check has passed.
    SERIALISED_GRANTS = ("authorization_code", "refresh_token")

    def create_token_response(self, request: HttpRequest):
        grant_type = request.POST.get("grant_type")
        if grant_type not in self.SERIALISED_GRANTS:
            return super().create_token_response(request)
        refresh_token = request.POST.get("refresh_token") if grant_type == "refresh_token" else None
        # A refresh token's state as the request arrives, before anything slow: it tells a request that
        # lost a race with a concurrent rotation from a replay that came after it (oidc.validate_refresh_token).
        arrived = oidc.refresh_token_arrived(refresh_token) if refresh_token else None
        try:
            with transaction.atomic():
                return super().create_token_response(request)
        finally:
            if arrived is not None:
                oidc.refresh_token_done(arrived)

    @method_decorator(sensitive_post_parameters("password", "client_secret"))
    def authorization_flow_token_response(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if app_authorized.has_listeners():
            return super().authorization_flow_token_response(request, *args, **kwargs)
        url, headers, body, status = self.create_token_response(request)
        # Every answer here is JSON (RFC 6749 §5.1, §5.2); DOT labels some errors text/html.
        response = HttpResponse(content=body, status=status, content_type="application/json")
        for key, value in headers.items():
            response[key] = value
        return response


class IntrospectView(IntrospectTokenView):
    """RFC 7662, answering `sub` (the opaque id) rather than only the username."""

    @staticmethod
    def get_token_response(token_value=None):
        if token_value is None:
            return JsonResponse({"error": "invalid_request", "error_description": "token is missing"}, status=400)
        token = oidc.access_token_by_value(token_value)
        # As AccessToken.is_expired(): a token is dead from its `expires` on.
        if token is None or timezone.now() >= token.expires:
            return JsonResponse({"active": False})
        data = {
            "active": True,
            "scope": token.scope,
            "exp": int(calendar.timegm(token.expires.timetuple())),
            "iat": int(calendar.timegm(token.created.timetuple())),
            "token_type": "Bearer",
            "iss": settings.GATEHOUSE_URL,
        }
        if token.application is not None:
            data["client_id"] = token.application.client_id
        if token.user is not None:
            data["sub"] = token.user.sub
            data["username"] = token.user.username
        if token.resource:
            data["aud"] = token.resource
        return JsonResponse(data)

    def unauthenticated_response(self, request, oauthlib_request=None):
        # RFC 7662 §2.1 / RFC 6749 §5.2: the caller must authenticate; say so in JSON, not an empty 403.
        response = JsonResponse(
            {"error": "invalid_client", "error_description": "Client authentication failed."}, status=401
        )
        response["WWW-Authenticate"] = 'Basic realm="gatehouse"'
        return response


@login_required
@never_cache
def account_page(request: HttpRequest) -> HttpResponse:
    # Each section brings its own data: federation's identities through its template tags
    # (federation/_identities.html), so the core does not import the apps that depend on it.
    return render(request, "idp/account.html")


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    # The whole single sign-on session ends: its refresh tokens, and every app it signed in to is told.
    session_end(request=request, via="account")
    return redirect("login")


@never_cache
def healthz(request: HttpRequest) -> HttpResponse:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        return JsonResponse({"status": "unavailable", "database": "down"}, status=503)
    return JsonResponse({"status": "ok"})


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return render(request, "403_csrf.html", status=403)


@require_GET
@never_cache
def demo_callback(request: HttpRequest) -> HttpResponse:
    """Where the demo client lands (DEBUG only): shows the code and how to exchange it."""
    if not settings.DEBUG:
        raise Http404
    return render(
        request,
        "idp/demo_callback.html",
        {
            "params": sorted(request.GET.items()),
            "code": request.GET.get("code", ""),
            "token_endpoint": _endpoint("token"),
            "redirect_uri": settings.GATEHOUSE_URL + reverse("demo-callback"),
        },
    )
