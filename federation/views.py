"""The login page, and the development upstream's page (the stand-in for Google's or Kakao's own)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from oauth2_provider.models import get_application_model

from federation.providers import offered_providers




def dev_login(request: HttpRequest) -> HttpResponse:
    if not (settings.DEBUG and settings.GATEHOUSE_DEV_LOGIN):
        raise Http404
    return render(request, "federation/dev_login.html", {"state": request.GET.get("state", "")})


def _safe_next(request: HttpRequest) -> str:
    """`next` only if it stays on this host (no open redirects)."""
    candidate = request.GET.get("next") or request.POST.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return ""


def _client_for_next(next_url: str) -> object | None:
    """The client app behind an authorization request, to brand the login page with."""
    parts = urlsplit(next_url)
    if parts.path != reverse("oauth2_provider:authorize"):
        return None
    client_id = parse_qs(parts.query).get("client_id", [""])[0]
    if not client_id:
        return None
    return get_application_model().objects.filter(client_id=client_id).first()


@require_GET
@never_cache
def login_page(request: HttpRequest) -> HttpResponse:
    next_url = _safe_next(request)
    if request.user.is_authenticated and not next_url:
        return redirect("account")
    client = _client_for_next(next_url) if next_url else None
    providers = offered_providers()
    if client is not None and client.upstreams:
        # A client may accept only some upstreams (an internal tool that takes only Google, say).
        providers = [provider for provider in providers if provider.backend in client.upstreams]
    return render(request, "idp/login.html", {"next": next_url, "client": client, "providers": providers})
