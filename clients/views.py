"""The consent step of /o/authorize/ (django-oauth-toolkit's view with Gatehouse's page and rules),
connected apps, and client logos."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import cache_control
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_POST
from oauth2_provider.exceptions import FatalClientError, OAuthToolkitError
from oauth2_provider.views import AuthorizationView
from oauthlib.oauth2.rfc6749.errors import ConsentRequired, LoginRequired, MissingRedirectURIError

from clients.consents import consent_grant, consent_missing_scopes, consent_revoke, consent_touch
from clients.models import Application, client_in_hand

# Where social-auth notes which upstream the current session signed in with.
LOGIN_BACKEND_SESSION_KEY = "social_auth_last_login_backend"


def _sign_in_older_than_max_age(request: HttpRequest) -> bool:
    """OIDC Core §3.1.2.1 max_age: has more time passed since the person signed in than the client allows?"""
    max_age = request.GET.get("max_age", "")
    # ASCII digits only: str.isdigit() also accepts "²", which int() refuses (a 500 for a signed-in person).
    if not (max_age.isascii() and max_age.isdigit()):
        return False
    if not request.user.is_authenticated or request.user.last_login is None:
        return False
    return (timezone.now() - request.user.last_login).total_seconds() > int(max_age)


class ConsentView(AuthorizationView):
    template_name = "clients/consent.html"

    def dispatch(self, request, *args, **kwargs):
        reset = client_in_hand.set(None)
        try:
            return super().dispatch(request, *args, **kwargs)
        finally:
            client_in_hand.reset(reset)  # threads serve many requests: nothing outlives this one

    def _client(self, client_id: str | None) -> Application | None:
        if not hasattr(self, "_application"):
            self._application = Application.objects.filter(client_id=client_id or "").first()
            # DOT reads the client three more times per request; it gets this one (clients.models).
            client_in_hand.set(self._application)
        return self._application

    def get(self, request, *args, **kwargs):
        if _sign_in_older_than_max_age(request) and "none" not in request.GET.get("prompt", "").split():
            # Sign in again. The request goes on without max_age, or a sign-in slower than it would loop.
            query = [(k, v) for k, v in parse_qsl(request.META.get("QUERY_STRING", ""), keep_blank_values=True) if k != "max_age"]
            return redirect_to_login(f"{request.path}?{urlencode(query)}")
        application = self._client(request.GET.get("client_id"))
        if application is not None and application.upstreams and request.user.is_authenticated:
            backend = request.session.get(LOGIN_BACKEND_SESSION_KEY)
            if backend not in application.upstreams:
                # An internal tool that accepts only Google, say: sign in again with an accepted upstream.
                messages.info(request, _("%(client)s asks you to sign in with another account.") % {"client": application.name})
                return redirect_to_login(request.get_full_path())
        return super().get(request, *args, **kwargs)

    def validate_authorization_request(self, request):
        if "openid" in request.GET.get("scope", "").split() and not request.GET.get("redirect_uri"):
            # OIDC Core §3.1.2.1: redirect_uri is REQUIRED (plain RFC 6749 would use the registered one).
            raise FatalClientError(error=MissingRedirectURIError())
        scopes, credentials = super().validate_authorization_request(request)
        # prompt=none (OIDC Core §3.1.2.1): no page may be shown, so a client that would need the
        # consent page gets `consent_required` instead.
        if "none" in request.GET.get("prompt", "").split() and _sign_in_older_than_max_age(request):
            raise OAuthToolkitError(
                error=LoginRequired(state=credentials.get("state")), redirect_uri=credentials["redirect_uri"]
            )
        if "none" in request.GET.get("prompt", "").split() and request.user.is_authenticated:
            application = self._client(credentials["client_id"])
            if not application.trusted and consent_missing_scopes(
                user=request.user, application=application, scopes=scopes
            ):
                raise OAuthToolkitError(
                    error=ConsentRequired(state=credentials.get("state")), redirect_uri=credentials["redirect_uri"]
                )
        return scopes, credentials

    def render_to_response(self, context, **response_kwargs):
        application, form = context.get("application"), context.get("form")
        if context.get("error") or application is None or form is None:
            return super().render_to_response(context, **response_kwargs)
        missing = consent_missing_scopes(user=self.request.user, application=application, scopes=context["scopes"])
        if not missing:
            # Remembered consent: take exactly the path of pressing Allow, without showing the page.
            consent_touch(user=self.request.user, application=application)
            data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
            allowed = self.get_form_class()(data={**data, "allow": True})
            if allowed.is_valid():
                return super().form_valid(allowed)
        descriptions = dict(zip(context["scopes"], context["scopes_descriptions"]))
        context["new_scope_descriptions"] = [descriptions[s] for s in missing]
        context["granted_before"] = len(missing) < len(context["scopes"])
        return super().render_to_response(context, **response_kwargs)

    def form_valid(self, form):
        response = super().form_valid(form)
        # DOT sets success_url only once it has issued a code: no consent is recorded for a failed request.
        if form.cleaned_data.get("allow") and getattr(self, "success_url", None):
            application = self._client(form.cleaned_data["client_id"])
            consent_grant(
                user=self.request.user,
                application=application,
                scopes=form.cleaned_data["scope"].split(),
                request=self.request,
            )
        return response

    def redirect(self, redirect_to, application):
        # RFC 9207: every authorization response names its issuer, errors included (DOT adds it to
        # successful responses only). DOT redirects only to a redirect URI it has already validated.
        parts = urlsplit(redirect_to)
        query = parse_qsl(parts.query, keep_blank_values=True)
        if not any(key == "iss" for key, _ in query):
            query.append(("iss", settings.GATEHOUSE_URL))
            redirect_to = urlunsplit(parts._replace(query=urlencode(query)))
        return super().redirect(redirect_to, application)


_consent = csrf_protect(ConsentView.as_view())


@csrf_exempt  # the consent form below is CSRF-protected; an authorization request cannot carry a token
def authorize(request: HttpRequest, *args, **kwargs) -> HttpResponse:
    """/o/authorize/: the authorization endpoint, by GET or POST (OIDC Core §3.1.2.1), and the consent form.

    A client may send the authorization request as a form POST. It is the same request as a GET, and the
    browser makes it one by following a 303; that top-level GET also carries the session cookie, which
    SameSite=Lax keeps off a cross-site POST. A POST with a CSRF token is the consent form (Allow/Deny).
    Whatever a cross-site form adds (`allow` included) only reaches the GET, which never approves by itself.
    """
    if request.method == "POST" and "csrfmiddlewaretoken" not in request.POST:
        return HttpResponseRedirect(f"{request.path}?{request.POST.urlencode()}", status=303)
    return _consent(request, *args, **kwargs)


@require_POST
@login_required
def connected_app_revoke(request: HttpRequest, client_id: str) -> HttpResponse:
    application = get_object_or_404(Application, client_id=client_id)
    consent_revoke(user=request.user, application=application, request=request)
    messages.success(request, _("%(client)s can no longer access your account.") % {"client": application.name})
    return redirect("account")


@require_GET
@cache_control(public=True, max_age=3600)
def client_logo(request: HttpRequest, client_id: str) -> HttpResponse:
    logo = Application.objects.filter(client_id=client_id).values_list("logo_image", "logo_content_type").first()
    if logo is None or not logo[0]:
        raise Http404
    response = HttpResponse(bytes(logo[0]), content_type=logo[1])
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'"
    return response
