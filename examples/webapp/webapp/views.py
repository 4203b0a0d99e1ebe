"""Sign in with Gatehouse, sign out everywhere, and honour Gatehouse's back-channel logout."""

from __future__ import annotations

import logging

from authlib.integrations.base_client import OAuthError
from django.conf import settings
from django.contrib import auth
from django.contrib.auth.models import User
from django.contrib.sessions.backends.db import SessionStore
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from webapp.gatehouse import InvalidLogoutToken, gatehouse, verify_logout_token
from webapp.models import GatehouseSession

logger = logging.getLogger(__name__)


def _url(name: str) -> str:
    # Exactly as registered at Gatehouse (redirect URIs are compared character for character).
    return settings.WEBAPP_URL + reverse(name)


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "webapp/home.html", {
        "claims": request.session.get("claims", {}), "other_app_url": settings.OTHER_APP_URL,
    })  # fmt: skip


def login(request: HttpRequest) -> HttpResponse:
    return gatehouse.authorize_redirect(request, _url("callback"))


def callback(request: HttpRequest) -> HttpResponse:
    # RFC 9207: the response names its issuer; a response from any other server is a mix-up attack.
    if request.GET.get("iss") != gatehouse.load_server_metadata()["issuer"]:
        return render(request, "webapp/error.html", {"error": "wrong issuer"}, status=400)
    try:
        token = gatehouse.authorize_access_token(request)  # state, PKCE, code exchange, ID token checks
    except OAuthError as error:
        return render(request, "webapp/error.html", {"error": error.error}, status=400)
    claims = token["userinfo"]  # the verified ID token's claims
    # `sub` is the person's stable, opaque id at Gatehouse: key local accounts on it, never on the email.
    user, _ = User.objects.update_or_create(
        username=claims["sub"][:150],
        defaults={"email": claims.get("email", ""), "first_name": claims.get("given_name", "")[:150],
                  "last_name": claims.get("family_name", "")[:150]},
    )  # fmt: skip
    auth.login(request, user)
    request.session["claims"] = {k: claims[k] for k in ("sub", "name", "email", "sid") if k in claims}
    request.session["id_token"] = token["id_token"]  # the hint for RP-initiated logout
    request.session.save()
    # Remember which Gatehouse session (`sid`) this session of ours belongs to, for back-channel logout.
    GatehouseSession.objects.update_or_create(
        session_key=request.session.session_key, defaults={"sid": claims.get("sid", ""), "sub": claims["sub"]}
    )
    return redirect("home")


@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    """Sign out here, then at Gatehouse: that ends the single sign-on session and every app is told."""
    id_token = request.session.get("id_token")
    GatehouseSession.objects.filter(session_key=request.session.session_key).delete()
    auth.logout(request)
    return gatehouse.logout_redirect(
        request, post_logout_redirect_uri=_url("signed-out"), id_token_hint=id_token,
        client_id=settings.GATEHOUSE_CLIENT_ID,
    )  # fmt: skip


def signed_out(request: HttpRequest) -> HttpResponse:
    try:
        gatehouse.validate_logout_response(request)  # the `state` we sent comes back
    except OAuthError:
        pass  # reached without going through Gatehouse: nothing to check
    return render(request, "webapp/signed_out.html")


@csrf_exempt  # Gatehouse's server calls this; the signed logout token is the proof, not a cookie
@require_POST
def backchannel_logout(request: HttpRequest) -> HttpResponse:
    """OpenID Connect Back-Channel Logout 1.0: Gatehouse says a session ended; end ours with it."""
    try:
        claims = verify_logout_token(request.POST.get("logout_token", ""))
    except InvalidLogoutToken as error:
        response = JsonResponse({"error": "invalid_request", "error_description": str(error)}, status=400)
    else:
        # §2.7: a `sid` ends that session; a bare `sub` ends every session of the person.
        if claims.get("sid"):
            rows = GatehouseSession.objects.filter(sid=claims["sid"])
        else:
            rows = GatehouseSession.objects.filter(sub=claims["sub"])
        with transaction.atomic():
            keys = list(rows.values_list("session_key", flat=True))
            for key in keys:
                SessionStore(session_key=key).delete()
            rows.delete()
        logger.info("back-channel logout received: Gatehouse session %s… ended, %d session(s) here",
                    claims.get("sid", "-")[:8], len(keys))  # fmt: skip
        response = HttpResponse(status=200)
    response["Cache-Control"] = "no-store"  # §2.8
    return response
