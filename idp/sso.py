"""Single sign-on sessions: which client apps a browser session signed in to, and ending that session.

A Gatehouse browser session gets a session id, `sid` (OpenID Connect Back-Channel Logout 1.0 §2.1): a
random value kept in the Django session the first time the session authorizes a client. It is never the
session key itself, because `sid` travels in ID tokens and logout tokens, and a session key in a client's
hands would let it take over the person's Gatehouse session.

Each authorization code issued in the session leaves a `SessionAuthorization` row (sid, user, client,
code checksum). The token endpoint has no browser session, so it finds the sid through the code it
exchanges (for the ID token's `sid` claim) and records the refresh-token family the code became. Ending
the session (`session_end`) then knows exactly which refresh tokens were issued in it and which clients
to notify, on whichever node the logout lands.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from django.contrib.auth import logout
from django.db import transaction
from django.db.models import Subquery
from django.http import HttpRequest
from oauth2_provider import oauth2_backends
from oauth2_provider.models import get_grant_model, get_refresh_token_model

from idp import backchannel
from idp.models import SessionAuthorization
from idp.services import audit_record

SID_SESSION_KEY = "gatehouse_sid"
# The oauthlib request attribute that carries the sid from the authorization view to the validator.
SID_CREDENTIAL = "gatehouse_sid"

Grant = get_grant_model()
RefreshToken = get_refresh_token_model()


def _checksum(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


def session_sid(request: HttpRequest) -> str:
    """This browser session's sid, created on first use. Django's login() flushes it with the session
    when another person signs in, so a sid never spans two people."""
    sid = request.session.get(SID_SESSION_KEY)
    if not sid:
        sid = secrets.token_urlsafe(24)
        request.session[SID_SESSION_KEY] = sid
    return sid


def sid_on_sign_in(sender, request: HttpRequest | None = None, **kwargs) -> None:
    """user_logged_in receiver: give the session its sid now, with the sign-in's own session write."""
    if request is not None and hasattr(request, "session"):
        session_sid(request)


class OAuthLibCore(oauth2_backends.OAuthLibCore):
    """django-oauth-toolkit's bridge to oauthlib, handing the session's sid to the validator.

    oauthlib copies the credentials onto its request, where `GatehouseValidator.save_authorization_code`
    reads it; the validator never sees the Django request or its session.
    """

    def create_authorization_response(self, request, scopes, credentials, allow):
        if allow and request.user.is_authenticated:
            credentials = {**credentials, SID_CREDENTIAL: session_sid(request)}
        return super().create_authorization_response(request, scopes, credentials, allow)


def authorization_record(*, request: Any, code: str) -> None:
    """Note that this session gave this client a code (called as the code is saved, oauthlib request)."""
    sid = getattr(request, SID_CREDENTIAL, None)
    if not sid:
        return  # not a browser authorization (nothing else issues codes today)
    SessionAuthorization.objects.create(
        sid=sid, user=request.user, application=request.client, code_checksum=_checksum(code)
    )


def session_record_columns(code: str) -> dict[str, Subquery]:
    """The code's session record (id and sid) as columns to read with the code's own row.

    The token endpoint reads the code anyway (idp/oidc.py); reading its session record in the same
    statement spares a code exchange a query.
    """
    rows = SessionAuthorization.objects.filter(code_checksum=_checksum(code))
    return {"session_record_id": Subquery(rows.values("pk")[:1]), "session_record_sid": Subquery(rows.values("sid")[:1])}


def _authorization_for_token_request(request: Any) -> SessionAuthorization | None:
    """The session record behind a token request: by the code exchanged, or by the refresh token's family."""
    cached = getattr(request, "_gatehouse_session_authorization", False)
    if cached is not False:
        return cached
    found = None
    grant = getattr(request, "_gatehouse_grant", None)
    if request.grant_type == "authorization_code" and hasattr(grant, "session_record_id"):
        if grant.session_record_id is not None:  # read with the code (session_record_columns)
            found = SessionAuthorization(pk=grant.session_record_id, sid=grant.session_record_sid)
    elif request.grant_type == "authorization_code" and getattr(request, "code", None):
        found = SessionAuthorization.objects.filter(code_checksum=_checksum(request.code)).first()
    elif request.grant_type == "refresh_token":
        previous = getattr(request, "refresh_token_instance", None)
        if previous is not None and previous.token_family:
            found = SessionAuthorization.objects.filter(token_family=previous.token_family).first()
    request._gatehouse_session_authorization = found
    return found


def sid_for_token_request(request: Any) -> str | None:
    """The `sid` claim of an ID token being issued (OpenID Connect Back-Channel Logout 1.0 §2.1)."""
    found = _authorization_for_token_request(request)
    return found.sid if found is not None else None


def token_family_record(*, request: Any, token_family) -> None:
    """Remember which refresh-token family a code of this session became: logout revokes the family."""
    if request.grant_type != "authorization_code" or not token_family:
        return
    found = _authorization_for_token_request(request)
    if found is not None:
        SessionAuthorization.objects.filter(pk=found.pk).update(token_family=token_family)


def session_end(*, request: HttpRequest, via: str, hint_sid: str | None = None, hint_user=None) -> list[str]:
    """End a single sign-on session: revoke what was issued in it, notify its clients, sign the browser out.

    The browser's own session if it has one; otherwise the session an RP-initiated logout's ID token
    names (`hint_sid`, `hint_user`), which may have ended here already while its tokens live on.
    Returns the client ids that get a back-channel logout token.
    """
    browser_user = request.user if request.user.is_authenticated else None
    if browser_user is not None:
        sid, user = request.session.get(SID_SESSION_KEY), browser_user
    else:
        sid, user = hint_sid, hint_user
    notified: list[str] = []
    if user is not None and sid:
        with transaction.atomic():
            rows = list(SessionAuthorization.objects.filter(sid=sid, user=user).select_related("application"))
            families = {row.token_family for row in rows if row.token_family}
            for family in families:
                # Every refresh token of the family (rotations included) and the access tokens they made.
                RefreshToken.revoke_family(family)
            _codes_revoke(user=user, rows=rows)
            applications = list({row.application_id: row.application for row in rows}.values())
            notified = backchannel.deliveries_create(user=user, sid=sid, applications=applications)
            SessionAuthorization.objects.filter(pk__in=[row.pk for row in rows]).delete()
            audit_record(
                event="logout",
                request=request,
                user=user,
                via=via,
                clients=sorted(application.client_id for application in applications),
                refresh_token_families_revoked=len(families),
                backchannel_notified=notified,
            )
    elif browser_user is not None:
        audit_record(event="logout", request=request, user=browser_user, via=via)  # signed in to no app
    if browser_user is not None:
        # Deletes the session row (and its cache entry): the old cookie stops working on every node.
        logout(request)
    return notified


def _codes_revoke(*, user, rows: list[SessionAuthorization]) -> None:
    """Codes of the session not yet exchanged die with it: a code redeemed after logout would mint
    tokens for a session that no longer exists."""
    pending = {row.code_checksum for row in rows if row.token_family is None}
    if not pending:
        return
    candidates = Grant.objects.filter(user=user, application_id__in={row.application_id for row in rows})
    doomed = [grant.pk for grant in candidates.only("pk", "code") if _checksum(grant.code) in pending]
    if doomed:
        Grant.objects.filter(pk__in=doomed).delete()
