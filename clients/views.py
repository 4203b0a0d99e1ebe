"""The consent step of /o/authorize/: django-oauth-toolkit's view with Gatehouse's page and rules."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.conf import settings
from oauth2_provider.exceptions import OAuthToolkitError
from oauth2_provider.views import AuthorizationView
from oauthlib.oauth2.rfc6749.errors import ConsentRequired

from clients.models import Application


class ConsentView(AuthorizationView):
    template_name = "clients/consent.html"

    def validate_authorization_request(self, request):
        scopes, credentials = super().validate_authorization_request(request)
        # prompt=none (OIDC Core §3.1.2.1): no page may be shown, so a client that would need the
        # consent page gets `consent_required` instead.
        if "none" in request.GET.get("prompt", "").split() and request.user.is_authenticated:
            application = Application.objects.get(client_id=credentials["client_id"])
            if not application.trusted:
                raise OAuthToolkitError(
                    error=ConsentRequired(state=credentials.get("state")), redirect_uri=credentials["redirect_uri"]
                )
        return scopes, credentials

    def redirect(self, redirect_to, application):
        # RFC 9207: every authorization response names its issuer, errors included (DOT adds it to
        # successful responses only). DOT redirects only to a redirect URI it has already validated.
        parts = urlsplit(redirect_to)
        query = parse_qsl(parts.query, keep_blank_values=True)
        if not any(key == "iss" for key, _ in query):
            query.append(("iss", settings.GATEHOUSE_URL))
            redirect_to = urlunsplit(parts._replace(query=urlencode(query)))
        return super().redirect(redirect_to, application)
