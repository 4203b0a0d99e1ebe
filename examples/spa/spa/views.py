"""The page, and Gatehouse's back-channel logout for the API behind it."""

from __future__ import annotations

import logging

import jwt
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from gatehouse_rs import InvalidToken, JWKSCache

from spa.models import EndedSession

logger = logging.getLogger(__name__)
LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
_keys = JWKSCache(settings.GATEHOUSE_URL)  # Gatehouse's public keys, fetched once and cached


def index(request: HttpRequest) -> HttpResponse:
    config = {
        "issuer": settings.GATEHOUSE_URL,
        "clientId": settings.GATEHOUSE_CLIENT_ID,
        "redirectUri": f"{settings.SPA_URL}/callback",
        "postLogoutRedirectUri": f"{settings.SPA_URL}/",
        "resource": settings.API_AUDIENCE,
        "api": f"{settings.SPA_URL}/api",
        "otherAppUrl": settings.OTHER_APP_URL,
    }
    return render(request, "spa/index.html", {"config": config})


def verify_logout_token(raw: str) -> dict:
    """OpenID Connect Back-Channel Logout 1.0 §2.6, with PyJWT; raises InvalidToken."""
    try:
        header = jwt.get_unverified_header(raw)
        if header.get("typ") != "logout+jwt":
            raise InvalidToken("not a logout token (typ)")
        claims = jwt.decode(
            raw, _keys.key(header.get("kid")), algorithms=["RS256"], audience=settings.GATEHOUSE_CLIENT_ID,
            issuer=settings.GATEHOUSE_URL, leeway=60,
            options={"require": ["iss", "aud", "iat", "exp", "jti", "events"]},
        )  # fmt: skip
    except jwt.PyJWTError as error:
        raise InvalidToken(str(error)) from None
    if not isinstance(claims["events"], dict) or LOGOUT_EVENT not in claims["events"]:
        raise InvalidToken("no back-channel logout event")
    if "nonce" in claims or not claims.get("sub"):
        raise InvalidToken("not a logout token for a person")
    return claims


@csrf_exempt  # Gatehouse's server calls this; the signed logout token is the proof
@require_POST
def backchannel_logout(request: HttpRequest) -> HttpResponse:
    try:
        claims = verify_logout_token(request.POST.get("logout_token", ""))
    except InvalidToken as error:
        response = JsonResponse({"error": "invalid_request", "error_description": str(error)}, status=400)
    else:
        EndedSession.objects.create(sid=claims.get("sid", ""), sub=claims["sub"])
        logger.info("back-channel logout received: Gatehouse session %s… ended; the API refuses its tokens",
                    claims.get("sid", "-")[:8])  # fmt: skip
        response = HttpResponse(status=200)
    response["Cache-Control"] = "no-store"
    return response
