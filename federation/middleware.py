"""Upstream sign-in failures become a message on the login page, never a stack trace."""

from __future__ import annotations

from urllib.parse import urlencode

from django.urls import reverse
from django.utils.translation import gettext as _
from social_core.exceptions import AuthAssociationError, AuthCanceled, AuthSessionError
from social_django.middleware import SocialAuthExceptionMiddleware

from federation.providers import provider_name


class UpstreamErrorMiddleware(SocialAuthExceptionMiddleware):
    def get_message(self, request, exception) -> str:
        backend = getattr(request, "backend", None)
        provider = provider_name(getattr(backend, "name", ""))
        if isinstance(exception, AuthCanceled):
            return _("You cancelled signing in with %(provider)s.") % {"provider": provider}
        if isinstance(exception, AuthSessionError):
            return _("Your sign-in with %(provider)s expired or was started elsewhere. Please start again.") % {
                "provider": provider
            }
        if isinstance(exception, AuthAssociationError):
            return _("That %(provider)s account is already linked to another person.") % {"provider": provider}
        return _("Signing in with %(provider)s did not work. Please try again.") % {"provider": provider}

    def get_redirect_uri(self, request, exception) -> str:
        # Back to the login page, resuming the authorization request the person started, if any.
        next_url = request.session.get("next") if hasattr(request, "session") else None
        url = reverse("login")
        return f"{url}?{urlencode({'next': next_url})}" if next_url else url
