"""Upstream sign-in failures become a page a person can act on, never a stack trace; each is audited.

- cancelled at the provider -> back to the login page, with a message;
- missing, forged, replayed or expired `state` (and friends) -> a page whose "Start again" resumes the
  original authorization request;
- the provider down, slow or answering garbage -> a 502 page;
- an identity linked to someone else, a disabled account, an upstream without a verified email -> a page
  explaining what happened.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from social_core.exceptions import (
    AuthAssociationError,
    AuthCanceled,
    AuthCredentialError,
    AuthInputError,
    AuthPolicyError,
    AuthProviderError,
    AuthResponseError,
    AuthSessionError,
    SocialAuthBaseException,
)
from social_django.middleware import SocialAuthExceptionMiddleware

from federation.pipeline import AccountDisabled
from federation.providers import provider_name
from idp.models import AuditEvent
from idp.services import audit_record

logger = logging.getLogger(__name__)

# Set by federation.views.complete when the callback finishes a "connect another upstream" flow.
CONNECTING_ATTRIBUTE = "federation_connecting"


# An OpenID Connect ID token that is not this sign-in's, or is too old: the round trip, not the upstream, failed.
RESTART_CODES = ("nonce_mismatch", "response_expired")


@dataclass(frozen=True)
class Failure:
    kind: str  # which page (and which words) the person gets
    status: int
    outcome: str
    event: str = "login.failed"


def classify(exception: SocialAuthBaseException, *, connecting: bool) -> Failure:
    refused, failed = AuditEvent.Outcome.REFUSED, AuditEvent.Outcome.FAILURE
    if isinstance(exception, AuthCanceled):
        return Failure("cancelled", HTTPStatus.FOUND, failed, "login.cancelled")
    if isinstance(exception, AuthAssociationError):
        if connecting:
            return Failure("linked_elsewhere", HTTPStatus.CONFLICT, refused, "identity.link_refused")
        # A sign-in meets this only when two first sign-ins of one identity raced (GOTCHAS.md): the
        # other one won, and starting again signs in as that user.
        return Failure("restart", HTTPStatus.CONFLICT, failed)
    if isinstance(exception, AccountDisabled):
        return Failure("disabled", HTTPStatus.FORBIDDEN, refused)
    if isinstance(exception, AuthPolicyError):
        return Failure("not_allowed", HTTPStatus.FORBIDDEN, refused)
    if isinstance(exception, AuthSessionError | AuthInputError) or exception.code in RESTART_CODES:
        # Nothing the upstream did wrong: this browser's sign-in cannot be matched to its start.
        return Failure("restart", HTTPStatus.BAD_REQUEST, refused)
    if isinstance(exception, AuthCredentialError):
        # The upstream refused the code (used twice, expired): a fresh round trip fixes it.
        return Failure("restart", HTTPStatus.BAD_REQUEST, failed)
    if isinstance(exception, AuthResponseError) and exception.claim == "email_verified":
        return Failure("email_unverified", HTTPStatus.FORBIDDEN, refused)
    if isinstance(exception, AuthProviderError | AuthResponseError):
        return Failure("upstream", HTTPStatus.BAD_GATEWAY, failed)
    # Configuration errors and anything social-core could not classify: still no stack trace for the person.
    return Failure("broken", HTTPStatus.BAD_GATEWAY, failed)


def _messages(kind: str, provider: str) -> tuple[str, str]:
    """The title and explanation of each failure page."""
    names = {"provider": provider}
    return {
        "restart": (
            _("Please start again"),
            _("Your sign-in with %(provider)s expired, was already used, or was started in another browser. "
              "Nothing was changed. Start again to continue where you were.") % names,
        ),
        "upstream": (
            _("%(provider)s is not answering") % names,
            _("%(provider)s did not answer in time or answered something we could not use. "
              "Nothing was changed. Please try again in a few minutes.") % names,
        ),
        "linked_elsewhere": (
            _("This %(provider)s account belongs to someone else") % names,
            _("That %(provider)s account is already linked to another Gatehouse account, so it was not linked "
              "to yours. Sign out and sign in with it to use that account, or choose another %(provider)s account.")
            % names,
        ),
        "disabled": (
            _("This account is disabled"),
            _("An administrator has disabled the Gatehouse account linked to this %(provider)s account.") % names,
        ),
        "not_allowed": (
            _("Signing in was not allowed"),
            _("This %(provider)s account may not sign in here. Contact your administrator if you think it should.")
            % names,
        ),
        "email_unverified": (
            _("%(provider)s has not confirmed your email") % names,
            _("%(provider)s did not confirm the email address of this account, so we cannot sign you in with it. "
              "Confirm your address with %(provider)s, or use another sign-in method.") % names,
        ),
        "broken": (
            _("Signing in with %(provider)s did not work") % names,
            _("Signing in with %(provider)s is not working right now. Nothing was changed. "
              "Please try again later, or use another sign-in method.") % names,
        ),
    }[kind]


def _resume_url(request: HttpRequest) -> str:
    """Where the person was going: the original authorization request (social-auth keeps it as `next`)."""
    session = getattr(request, "session", None)
    next_url = session.get("next", "") if session is not None else ""
    if next_url and url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        return next_url
    return ""


class UpstreamErrorMiddleware(SocialAuthExceptionMiddleware):
    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if getattr(request, "social_strategy", None) is None or not isinstance(exception, SocialAuthBaseException):
            return None
        if self.raise_exception(request, exception):
            return None
        backend_name = getattr(getattr(request, "backend", None), "name", "")
        connecting = bool(getattr(request, CONNECTING_ATTRIBUTE, False))
        failure = classify(exception, connecting=connecting)
        log = logger.error if failure.kind == "broken" else logger.warning
        # Codes only: provider descriptions can echo what the person typed, and tokens never belong in logs.
        log("upstream sign-in failed: backend=%s code=%s stage=%s", backend_name, exception.code, exception.stage)
        user = request.user if request.user.is_authenticated else None
        audit_record(event=failure.event, request=request, user=user, provider=backend_name,
                     outcome=failure.outcome, code=exception.code, stage=exception.stage)

        provider = provider_name(backend_name)
        resume = _resume_url(request)
        if failure.kind == "cancelled":
            messages.info(request, _("You cancelled signing in with %(provider)s.") % {"provider": provider})
            if connecting:
                return redirect(resume or reverse("account"))
            login_url = reverse("login")
            return redirect(f"{login_url}?{urlencode({'next': resume})}" if resume else login_url)
        title, message = _messages(failure.kind, provider)
        response = render(
            request,
            "federation/error.html",
            {
                "title": title,
                "message": message,
                "kind": failure.kind,
                "provider": provider,
                "resume_url": resume or reverse("login"),
                "signed_in": user is not None,
            },
            status=failure.status,
        )
        add_never_cache_headers(response)
        return response
