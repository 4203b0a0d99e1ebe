"""RFC 8693 token exchange at /o/token/: a native app trades an upstream access token for Gatehouse tokens.

A mobile app that signed the person in with the Kakao, Google or Facebook SDK holds that upstream's
access token. It posts it to /o/token/ with

    grant_type=urn:ietf:params:oauth:grant-type:token-exchange
    subject_token=<the upstream access token>
    subject_token_type=urn:ietf:params:oauth:token-type:access_token
    subject_issuer=<the upstream backend: kakao, google-oauth2 or facebook>

and gets Gatehouse access, refresh and ID tokens, as if the person had signed in through the browser.

The protocol stays inside oauthlib: an oauthlib grant type (client authentication, scopes, token
creation, the ID token) registered in django-oauth-toolkit's server class (OAUTH2_SERVER_CLASS), with
the storage-dependent decisions in validator hooks (OAUTH2_VALIDATOR_CLASS). The upstream token is
trusted only after its provider confirms it was issued to *our* app there: otherwise any app that
obtained a Kakao token from the person (a game, say) could sign in to Gatehouse as them.
"""

from __future__ import annotations

import json
import logging

from oauthlib.oauth2.rfc6749 import errors
from oauthlib.oauth2.rfc6749.grant_types.base import GrantTypeBase
from oauthlib.openid import Server as OpenIDServer
from oauthlib.openid.connect.core.grant_types.base import GrantTypeBase as OpenIDGrantTypeBase
from social_core.exceptions import AuthProviderError, AuthResponseError, SocialAuthBaseException

from federation.providers import UpstreamTokenRejected
from federation.selectors import token_exchange_client
from federation.services import upstream_token_sign_in
from idp.models import AuditEvent
from idp.oidc import GatehouseValidator
from idp.services import audit_record

logger = logging.getLogger(__name__)

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"


class UpstreamUnavailableError(errors.OAuth2Error):
    """The upstream could not confirm the token (down, slow, or answering garbage): try again later."""

    error = "temporarily_unavailable"
    status_code = 503


class TokenExchangeGrant(GrantTypeBase):
    """The grant itself (RFC 8693 §2): validate the request, then issue tokens like any other grant."""

    def create_token_response(self, request, token_handler):
        headers = self._get_default_headers()
        try:
            self.validate_token_request(request)
        except errors.OAuth2Error as e:
            headers.update(e.headers)
            return headers, e.json, e.status_code

        token = token_handler.create_token(request, refresh_token=self.refresh_token)
        for modifier in self._token_modifiers:
            token = modifier(token, token_handler, request)
        # RFC 8693 §2.2.1: REQUIRED in the response.
        token["issued_token_type"] = ACCESS_TOKEN_TYPE
        self.request_validator.save_token(token, request)
        return headers, json.dumps(token), 200

    def validate_token_request(self, request):
        for validator in self.custom_validators.pre_token:
            validator(request)
        if getattr(request, "grant_type", None) != TOKEN_EXCHANGE:
            raise errors.UnsupportedGrantTypeError(request=request)
        single = ("grant_type", "scope", "subject_token", "subject_token_type", "subject_issuer",
                  "requested_token_type", "audience")
        for param in single:
            if param in request.duplicate_params:
                raise errors.InvalidRequestError(description=f"Duplicate {param} parameter.", request=request)
        for param in ("subject_token", "subject_token_type", "subject_issuer"):
            if not getattr(request, param, None):
                raise errors.InvalidRequestError(description=f"Missing {param} parameter.", request=request)
        # RFC 8693 §2.2.2: an unsupported token type is an invalid_request.
        if request.subject_token_type != ACCESS_TOKEN_TYPE:
            raise errors.InvalidRequestError(description="subject_token_type must be an access token.", request=request)
        if getattr(request, "requested_token_type", None) not in (None, ACCESS_TOKEN_TYPE):
            raise errors.InvalidRequestError(description="Only access tokens are issued.", request=request)
        if getattr(request, "actor_token", None) or getattr(request, "actor_token_type", None):
            # Delegation (an actor acting for the subject) is not offered.
            raise errors.InvalidRequestError(description="actor_token is not supported.", request=request)

        # Who is asking comes first: nobody gets us to call an upstream without being a client allowed to.
        self.validate_client_authentication(request)
        self.validate_grant_type(request)
        audience = getattr(request, "audience", None)
        if audience not in (None, request.client_id):
            # RFC 8693 §2.2.2: tokens are only ever issued for the requesting client itself.
            raise errors.CustomOAuth2Error("invalid_target", description="audience must be the client itself.",
                                           request=request)
        self.validate_scopes(request)

        if not self.request_validator.validate_subject_token(
            request.subject_token, request.subject_issuer, request.client, request
        ):
            # RFC 8693 §2.2.2: a subject token that is invalid or unacceptable is `invalid_request`.
            raise errors.InvalidRequestError(description="The subject token was not accepted.", request=request)

        for validator in self.custom_validators.post_token:
            validator(request)


class OpenIDTokenExchangeGrant(OpenIDGrantTypeBase):
    """The same grant, adding an ID token when `openid` is among the scopes (as the refresh grant does)."""

    def __init__(self, request_validator=None, **kwargs):
        self.proxy_target = TokenExchangeGrant(request_validator=request_validator, **kwargs)
        self.register_token_modifier(self.add_id_token)


class Server(OpenIDServer):
    """oauthlib's OpenID Connect server (django-oauth-toolkit's default with OIDC on), plus token exchange."""

    def __init__(self, request_validator, *args, **kwargs):
        super().__init__(request_validator, *args, **kwargs)
        self.grant_types[TOKEN_EXCHANGE] = OpenIDTokenExchangeGrant(request_validator)


class TokenExchangeValidator(GatehouseValidator):
    """Gatehouse's validator with the token-exchange hooks."""

    def validate_grant_type(self, client_id, grant_type, client, request, *args, **kwargs):
        if grant_type != TOKEN_EXCHANGE:
            return super().validate_grant_type(client_id, grant_type, client, request, *args, **kwargs)
        # An exchange shows no consent page, so only first-party (trusted) clients an administrator
        # allowed explicitly may use it.
        permission = token_exchange_client(client=client)
        return permission is not None and client.trusted

    def validate_subject_token(self, subject_token, subject_issuer, client, request) -> bool:
        """Verify the upstream token was issued to our app, then sign its owner in (request.user)."""
        permission = token_exchange_client(client=client)
        http_request = self.build_http_request(request)

        def audit(outcome: str, **data) -> None:
            audit_record(event="token_exchange", request=http_request, user=getattr(request, "user", None),
                         client_id=client.client_id, provider=str(subject_issuer)[:64], outcome=outcome, **data)

        # The client's own list of accepted upstreams (clients.Application.allowed_upstreams) applies too.
        client_upstreams = getattr(client, "upstreams", set())
        if permission is None or not permission.allows(subject_issuer) or (
            client_upstreams and subject_issuer not in client_upstreams
        ):
            audit(AuditEvent.Outcome.REFUSED, reason="upstream_not_allowed")
            return False
        try:
            request.user = upstream_token_sign_in(
                backend_name=subject_issuer, token=subject_token, client_id=client.client_id, request=http_request
            )
        except UpstreamTokenRejected as rejected:
            audit(AuditEvent.Outcome.REFUSED, reason=str(rejected))
            return False
        except SocialAuthBaseException as error:
            if _token_refused(error):
                audit(AuditEvent.Outcome.REFUSED, reason=error.code)
                return False
            logger.warning("token exchange: upstream %r failed: code=%s", subject_issuer, error.code)
            audit(AuditEvent.Outcome.FAILURE, reason=error.code)
            raise UpstreamUnavailableError(request=request) from None
        audit(AuditEvent.Outcome.SUCCESS)
        return True


def _token_refused(error: SocialAuthBaseException) -> bool:
    """Whether the upstream said no about the token or person (invalid_request), rather than failed to answer."""
    if isinstance(error, AuthProviderError):
        # A 4xx about the token (401 from Kakao, 400 from Google's tokeninfo): the token is bad.
        return error.status_code is not None and 400 <= error.status_code < 500 and error.status_code != 429
    if isinstance(error, AuthResponseError):
        # A profile we may not use (Google without a verified email), not a garbled answer.
        return error.code in ("invalid_claim", "missing_claim") and error.stage in ("pipeline", "user_info")
    # Credentials rejected, a disabled account, an identity conflict: all about this token or person.
    # A configuration error is ours to fix, not the client's: it is answered as unavailable.
    return error.source != "configuration"
