"""The API the single-page app calls: a resource server validating Gatehouse's JWT access tokens locally."""

from __future__ import annotations

from datetime import datetime, timezone

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET
from gatehouse_rs import InvalidToken, verify_access_token

from spa.models import EndedSession


def _unauthorized(description: str) -> JsonResponse:
    response = JsonResponse({"error": "invalid_token", "error_description": description}, status=401)
    response["WWW-Authenticate"] = f'Bearer error="invalid_token", error_description="{description}"'  # RFC 6750 §3
    return response


@require_GET
def me(request: HttpRequest) -> JsonResponse:
    scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not raw:
        return _unauthorized("no access token")
    try:
        # Signature (Gatehouse's JWKS, cached), issuer, audience (this API), expiry, typ at+jwt.
        token = verify_access_token(raw, audience=settings.API_AUDIENCE, issuer=settings.GATEHOUSE_URL)
    except InvalidToken as error:
        return _unauthorized(str(error))
    # A JWT is valid until it expires, wherever it is checked. Gatehouse's back-channel logout told us
    # which people signed out (spa/views.py): their tokens issued before that are refused from now on.
    issued_at = datetime.fromtimestamp(token.claims["iat"], tz=timezone.utc)
    if EndedSession.objects.filter(sub=token.sub, ended_at__gte=issued_at).exists():
        return _unauthorized("the session has ended")
    return JsonResponse({
        "message": "Hello from the example API",
        "sub": token.sub, "client_id": token.client_id, "scopes": sorted(token.scopes),
        "expires_at": token.claims["exp"],
    })  # fmt: skip
