"""The login page, the upstream callback, the identity actions of /account/, and the development
upstream's page (the stand-in for Google's or Kakao's own)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import AnonymousUser
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST
from oauth2_provider.models import get_application_model
from social_django import views as social_views

from federation.middleware import CONNECTING_ATTRIBUTE
from federation.providers import offered_providers, provider_name
from federation.services import IdentityError, account_delete, identity_unlink

# The hidden field of /account/'s "Connect" forms. social-auth copies it into the session at every
# /login/<backend>/ (SOCIAL_AUTH_FIELDS_STORED_IN_SESSION), and clears it when a form lacks it.
CONNECT_FIELD = "connect_backend"


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


@never_cache
@csrf_exempt  # an upstream's redirect carries no CSRF token; `state` (checked by social-auth) is the defence
def complete(request: HttpRequest, backend: str) -> HttpResponse:
    """social-auth's callback, deciding first whether this finishes a sign-in or a connect.

    Only a flow begun from /account/'s "Connect" form links the upstream account to the signed-in
    person. From the login page it is a sign-in, even for someone already signed in: whoever owns that
    upstream account (or a new user) is signed in instead. Otherwise anyone pressing "Continue with
    Kakao" on a shared computer would silently attach their Kakao account to the previous person.
    """
    connect_backend = request.session.pop(CONNECT_FIELD, None)  # one use: it never outlives its callback
    connecting = request.user.is_authenticated and connect_backend == backend
    setattr(request, CONNECTING_ATTRIBUTE, connecting)
    if not connecting:
        request.user = AnonymousUser()
    return social_views.complete(request, backend)


@login_required
@require_POST
def unlink(request: HttpRequest, identity_id: int) -> HttpResponse:
    try:
        identity = identity_unlink(user=request.user, identity_id=identity_id, request=request)
    except IdentityError as refused:
        messages.error(request, str(refused))
    else:
        name = provider_name(identity.provider)
        messages.success(request, _("%(provider)s was removed from your sign-in methods.") % {"provider": name})
    return redirect(f"{reverse('account')}#identities")


@login_required
@require_POST
def delete_account(request: HttpRequest) -> HttpResponse:
    if request.POST.get("confirm") != "delete":
        messages.error(request, _("Tick the box to confirm that you want to delete your account."))
        return redirect(f"{reverse('account')}#delete-account")
    account_delete(user=request.user, request=request)
    messages.success(request, _("Your account was deleted. Every app you used it with has lost access."))
    return redirect("login")
