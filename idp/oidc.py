"""Gatehouse's rules for django-oauth-toolkit: claims, scopes, keys. The protocol itself stays DOT's."""

from __future__ import annotations

import hashlib
import json
from contextvars import ContextVar
from urllib.parse import urlsplit

from django.db import transaction
from jwcrypto import jws
from jwcrypto.common import JWException
from oauth2_provider.models import (
    get_access_token_model,
    get_grant_model,
    get_id_token_model,
    get_refresh_token_model,
)
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauthlib.oauth2.rfc6749 import errors

from idp import codes, keys, prebuilt, sso

Grant = get_grant_model()
AccessToken = get_access_token_model()
IDToken = get_id_token_model()
RefreshToken = get_refresh_token_model()


# The refresh token a token request presented, and its live row (if any) as of the request's arrival,
# noted by idp.views.TokenView before client authentication and anything else slow (see
# `validate_refresh_token`).
_refresh_token_on_arrival: ContextVar[tuple[str, list[int]] | None] = ContextVar("refresh_token_on_arrival", default=None)


def _live_refresh_tokens(refresh_token: str):
    checksum = hashlib.sha256(refresh_token.encode("utf-8")).hexdigest()
    return RefreshToken.objects.filter(token_checksum=checksum, revoked__isnull=True).values_list("pk", flat=True)


def refresh_token_arrived(refresh_token: str):
    """Note whether `refresh_token` is live as the request arrives; returns a reset token for the view."""
    return _refresh_token_on_arrival.set((refresh_token, list(_live_refresh_tokens(refresh_token))))


def refresh_token_done(reset) -> None:
    _refresh_token_on_arrival.reset(reset)


def access_token_by_value(token: str):
    """The access token with this value, its client and its person (DOT's select_related), or None.

    By a prebuilt statement (idp/prebuilt.py): every userinfo request, introspection and bearer-protected
    API call makes this lookup, and compiling its join of three wide tables through the ORM was half of
    a userinfo request's CPU.
    """
    checksum = hashlib.sha256(token.encode("utf-8")).hexdigest()
    return prebuilt.select_one(
        AccessToken, "token_checksum", checksum, related=("application", "user"), defer=("logo_image",)
    )


def _user(request):
    return request.user


class GatehouseValidator(OAuth2Validator):
    # Request-agnostic claims (no `request` parameter): DOT then lists all of them in discovery's
    # `claims_supported`. Each is released only with its scope (`oidc_claim_scope`).
    def get_additional_claims(self):
        return {
            "name": lambda r: _user(r).get_full_name(),
            "given_name": lambda r: _user(r).first_name,
            "family_name": lambda r: _user(r).last_name,
            "preferred_username": lambda r: _user(r).username,
            "picture": lambda r: _user(r).picture,
            "locale": lambda r: _user(r).locale,
            "email": lambda r: _user(r).email,
            "email_verified": lambda r: _user(r).email_verified,
        }

    def get_claim_dict(self, request):
        claims = super().get_claim_dict(request)
        # OIDC Core §2: `sub` is opaque and stable, never the database row id DOT uses by default.
        claims["sub"] = lambda r: _user(r).sub
        return claims

    def get_oidc_claims(self, token, token_handler, request):
        # Leave out empty profile claims rather than asserting "" for a name nobody gave us.
        claims = super().get_oidc_claims(token, token_handler, request)
        return {k: v for k, v in claims.items() if v not in ("", None)}

    def validate_scopes(self, client_id, scopes, client, request, *args, **kwargs):
        # A client may ask only for the scopes registered for it (`invalid_scope` otherwise).
        return super().validate_scopes(client_id, scopes, client, request, *args, **kwargs) and set(
            scopes
        ).issubset(client.allowed_scopes)

    def _load_access_token(self, token):
        return access_token_by_value(token)

    def get_default_scopes(self, client_id, request, *args, **kwargs):
        allowed = request.client.allowed_scopes
        return sorted(allowed & {"openid"}) or sorted(allowed)

    # prompt=none: the authorization view decides consent (clients.views); a request reaching
    # validation from an unauthenticated session is answered `login_required` by DOT itself.
    def validate_silent_login(self, request):
        return True

    def validate_silent_authorization(self, request):
        return True

    def _get_key_for_token(self, token):
        """The key named by the token's `kid`, so ID tokens signed before a rotation still verify."""
        header = jwt_header(token)
        if header.get("alg") != "RS256":
            return None
        return keys.key_for_kid(header.get("kid"))

    # --- single sign-on sessions (idp/sso.py): what logout needs to know -----------------------------

    def save_authorization_code(self, client_id, code, request, *args, **kwargs):
        super().save_authorization_code(client_id, code, request, *args, **kwargs)
        sso.authorization_record(request=request, code=code["code"])

    def get_id_token_dictionary(self, token, token_handler, request):
        claims, expiration_time = super().get_id_token_dictionary(token, token_handler, request)
        # OpenID Connect Back-Channel Logout 1.0 §2.1: the session, as logout tokens will name it.
        sid = sso.sid_for_token_request(request)
        if sid:
            claims["sid"] = sid
        return claims, expiration_time

    def _create_refresh_token(self, request, refresh_token_code, access_token, previous_refresh_token):
        refresh_token = super()._create_refresh_token(
            request, refresh_token_code, access_token, previous_refresh_token
        )
        sso.token_family_record(request=request, token_family=refresh_token.token_family)
        request._gatehouse_token_family = refresh_token.token_family
        return refresh_token

    def invalidate_authorization_code(self, client_id, code, request, *args, **kwargs):
        # Called once the tokens are saved: DOT deletes the code; we remember what it was exchanged for.
        super().invalidate_authorization_code(client_id, code, request, *args, **kwargs)
        grant = getattr(request, "_gatehouse_grant", None)
        access_token = getattr(request, "_gatehouse_access_token", None)
        codes.code_redeemed_record(
            code=code,
            application=request.client,
            user=grant.user if grant is not None else request.user,
            access_token_id=access_token.pk if access_token is not None else None,
            token_family=getattr(request, "_gatehouse_token_family", None),
        )

    def is_origin_allowed(self, client_id, origin, request, *args, **kwargs):
        # CORS at the token endpoint for single-page apps: a public client's own origin is that of its
        # redirect URIs, which receive its codes anyway (Keycloak's "+" web origin).
        if super().is_origin_allowed(client_id, origin, request, *args, **kwargs):
            return True
        client = request.client
        return client.client_type == client.CLIENT_PUBLIC and origin in {
            f"{parts.scheme}://{parts.netloc}" for parts in map(urlsplit, client.redirect_uris.split())
        }

    # --- one read of the authorization code per token request --------------------------------------
    # django-oauth-toolkit reads the code's row up to seven times during one exchange (scopes, validity,
    # redirect URI, PKCE challenge and method, nonce, resources), and its user once more. The row is read
    # once, with its user, and kept on the oauthlib request, which lives for this one token request.

    def _grant(self, code: str, request, client=None):
        grant = getattr(request, "_gatehouse_grant", None)
        if grant is None or grant.code != code:
            # With the code's session record (idp/sso.py), which the ID token's `sid` needs.
            grants = Grant.objects.select_related("user").annotate(**sso.session_record_columns(code))
            if transaction.get_connection().in_atomic_block:
                # The token view runs a code exchange in one transaction (idp.views.TokenView): lock the
                # code's row until the tokens are committed, so a concurrent exchange of the same code
                # waits here, then finds it deleted (invalid_grant) instead of minting a second pair.
                # `of=("self",)`: lock the code, not its user.
                grants = grants.select_for_update(of=("self",))
            grant = grants.filter(code=code).first()
            request._gatehouse_grant = grant
        if grant is not None and client is not None and grant.application_id != client.pk:
            return None  # another client's code: exactly as if it did not exist
        return grant

    # --- one rotation per refresh token -----------------------------------------------------------
    def validate_refresh_token(self, refresh_token, client, request, *args, **kwargs):
        """DOT's check, after locking the token's row for the rest of the token request.

        DOT reads the refresh token without a lock and locks it only when saving the new pair; requests
        racing with one token all pass the check, and the later ones are then answered with the first's
        tokens (its grace path), so N requests get N 200s. Here the live row is locked first (the token
        view holds one transaction, idp.views.TokenView): the others wait, and find it rotated.
        """
        if transaction.get_connection().in_atomic_block:
            live = _live_refresh_tokens(refresh_token)
            arrival = _refresh_token_on_arrival.get()
            seen_live = arrival[1] if arrival is not None and arrival[0] == refresh_token else list(live)
            if seen_live and not list(live.filter(pk__in=seen_live).select_for_update()):
                # Live when this request arrived, rotated by a concurrent request since (which held the
                # lock until it committed): this one lost the race, and gets invalid_grant. It cannot be a
                # replay of a token whose rotation the client had already been told of, so the family, and
                # the winner's new token, stay valid (a replay after the rotation still revokes it all).
                return False
        return super().validate_refresh_token(refresh_token, client, request, *args, **kwargs)

    def get_authorization_code_scopes(self, client_id, code, redirect_uri, request):
        grant = self._grant(code, request)
        return grant.scope.split() if grant is not None and grant.scope else []

    def get_authorization_code_nonce(self, client_id, code, redirect_uri, request):
        grant = self._grant(code, request)
        return (grant.nonce or None) if grant is not None else None

    def validate_code(self, client_id, code, client, request, *args, **kwargs):
        grant = self._grant(code, request, client)
        if grant is None and client is not None:
            # RFC 6749 §4.1.2: a code used twice revokes the tokens of its first use (idp/codes.py).
            codes.code_reuse_revoke(code=code, application=client)
        if grant is None or grant.is_expired():
            return False
        request.scopes = grant.scope.split(" ")
        request.user = grant.user
        if grant.nonce:
            request.nonce = grant.nonce
        if grant.claims:
            request.claims = json.loads(grant.claims)
        return True

    def confirm_redirect_uri(self, client_id, code, redirect_uri, client, request, *args, **kwargs):
        grant = self._grant(code, request, client)
        # DOT raises Grant.DoesNotExist here (a 500) when a concurrent exchange consumed the code.
        return grant is not None and grant.redirect_uri_allowed(redirect_uri)

    def get_code_challenge(self, code, request):
        grant = self._grant(code, request, request.client)
        return (grant.code_challenge or None) if grant is not None else None

    def get_code_challenge_method(self, code, request):
        grant = self._grant(code, request, request.client)
        return (grant.code_challenge_method or None) if grant is not None else None

    def _check_and_set_request_resource(self, request):
        """RFC 8707 resources of the token, as DOT decides them, from the code's row already read."""
        if request.grant_type != "authorization_code":
            return super()._check_and_set_request_resource(request)
        # DOT's own pass, minus its grant lookup: normalise the requested resources (one or a list) ...
        grant_type, request.grant_type = request.grant_type, None
        try:
            super()._check_and_set_request_resource(request)
        finally:
            request.grant_type = grant_type
        # ... then, as DOT does for a code: a token may narrow the code's resources, never widen them.
        grant = self._grant(request.code, request, request.client)
        granted = (grant.resource or []) if grant is not None else []
        if request.resource and granted:
            for resource in request.resource:
                if resource not in granted:
                    raise errors.CustomOAuth2Error(
                        error="invalid_target",
                        description=f"The requested resource '{resource}' is not allowed. Token request cannot "
                        "escalate resource permissions beyond the original authorization grant",
                        request=request,
                    )
        elif granted:
            self._validate_resource_uris(request, granted)
            request.resource = granted

    def save_bearer_token(self, token, request, *args, **kwargs):
        """DOT's, without a transaction of its own where one adds nothing.

        DOT wraps the saving of every grant's tokens in a transaction. A code exchange or a refresh already
        runs in one (idp.views.TokenView), where DOT's would only add a savepoint nothing rolls back to (two
        statements); a client-credentials grant saves a single row (its access token, never a refresh
        token), where BEGIN and COMMIT would be two of the five round trips the request makes.
        """
        single_row = request.grant_type == "client_credentials" and "refresh_token" not in token
        if single_row or transaction.get_connection().in_atomic_block:
            return self._save_bearer_token(token, request, *args, **kwargs)
        return super().save_bearer_token(token, request, *args, **kwargs)

    def _create_access_token(self, expires, request, token, source_refresh_token=None):
        """DOT's, except that the ID token row just saved is used as it is.

        DOT verifies the ID token it signed a moment ago and reads its row back by `jti`: an RSA
        verification and a query for nothing.
        """
        id_token = getattr(request, "id_token", None)
        if not token.get("id_token") or not isinstance(id_token, IDToken):
            access_token = super()._create_access_token(expires, request, token, source_refresh_token)
            request._gatehouse_access_token = access_token  # for invalidate_authorization_code
            return access_token
        access_token = AccessToken(
            user=request.user,
            scope=token["scope"],
            expires=expires,
            id_token=id_token,
            application=request.client,
            source_refresh_token=source_refresh_token,
            resource=getattr(request, "resource", []),  # RFC 8707
        )
        self._set_token_value(access_token, token["access_token"])
        access_token.save()
        request._gatehouse_access_token = access_token  # for invalidate_authorization_code
        return access_token


def jwt_header(token: str) -> dict:
    """The unverified JOSE header of a compact JWT (for picking a key), or {} if it is not one."""
    try:
        unverified = jws.JWS()
        unverified.deserialize(token)
        return dict(unverified.jose_header)
    except (JWException, ValueError, TypeError, json.JSONDecodeError):
        return {}
