"""RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) that ends the single sign-on session."""

from __future__ import annotations

import base64
import json
from urllib.parse import urlsplit

from django.contrib import messages
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from oauth2_provider.exceptions import InvalidOIDCClientError, InvalidOIDCRedirectURIError
from oauth2_provider.http import OAuth2ResponseRedirect
from oauth2_provider.models import get_application_model
from oauth2_provider.views import RPInitiatedLogoutView
from oauthlib.common import add_params_to_uri

from idp.net import is_loopback
from idp.sso import session_end

Application = get_application_model()


def _claims_of_verified(token: str) -> dict:
    """The claims of a compact JWT whose signature has already been checked."""
    try:
        payload = token.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}


class EndSessionView(RPInitiatedLogoutView):
    """django-oauth-toolkit's end-session endpoint, scoped to the session rather than to the person.

    DOT's own logout deletes every token the person holds, in every app and on every device. Gatehouse
    ends one single sign-on session: it revokes the refresh tokens issued in that session, sends a
    back-channel logout token to every client the session signed in to, and deletes the session
    (idp/sso.py). The confirmation form is DOT's (`allow` approves).
    """

    hint_sid: str | None = None

    def get_request_application(self, id_token, client_id):
        # DOT looks an unknown client_id up with .get(): a 500 rather than an error page.
        if client_id and not Application.objects.filter(client_id=client_id).exists():
            raise InvalidOIDCClientError()
        return super().get_request_application(id_token, client_id)

    def validate_logout_request_user(self, id_token_hint, client_id):
        id_token = super().validate_logout_request_user(id_token_hint, client_id)
        if id_token is not None:
            # DOT has just verified the hint's signature and issuer.
            self.hint_sid = _claims_of_verified(id_token_hint).get("sid")
        return id_token

    def validate_post_logout_redirect_uri(self, application, post_logout_redirect_uri):
        parts = urlsplit(post_logout_redirect_uri or "")
        if (
            application is not None
            and application.client_type == Application.CLIENT_PUBLIC
            and parts.scheme == "http"
            and is_loopback(parts.hostname or "")
        ):
            # DOT's strict mode refuses http for every public client. Registration admits http only for
            # loopback addresses (RFC 8252 §7.3), where a single-page app under development lives; the
            # URI must still be one of the client's registered ones, exactly.
            if not application.post_logout_redirect_uri_allowed(post_logout_redirect_uri):
                raise InvalidOIDCRedirectURIError(
                    _("This app has not registered this address to return to after signing out.")
                )
            return
        super().validate_post_logout_redirect_uri(application, post_logout_redirect_uri)

    def do_logout(self, application=None, post_logout_redirect_uri=None, state=None, token_user=None):
        session_end(request=self.request, via="rp-initiated", hint_sid=self.hint_sid, hint_user=token_user)
        if post_logout_redirect_uri:
            if state:
                post_logout_redirect_uri = add_params_to_uri(post_logout_redirect_uri, [("state", state)])
            return OAuth2ResponseRedirect(post_logout_redirect_uri, application.get_allowed_schemes())
        messages.success(self.request, _("You are signed out of Gatehouse."))
        return redirect("login")
