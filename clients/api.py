"""The REST API for administrators (INTERFACE.md, /api/): thin views over clients.services.

One view per URL, one method per operation, each with its own small input/output serializers
(HackSoft style). The services check everything; the serializers only give the JSON its shape.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer
from oauth2_provider.contrib.rest_framework import OAuth2Authentication, TokenHasScope
from rest_framework import exceptions, serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from clients.models import Application
from clients.services import (
    GRANTS,
    client_delete,
    client_fields,
    client_register,
    client_rotate_secret,
    client_update,
)

ADMIN_SCOPE = "gatehouse:admin"


class IsGatehouseAdmin(TokenHasScope):
    """An access token with the scope gatehouse:admin, or a staff user's session.

    Only a token's scope counts, never its user: a staff member's sign-in token for some app (scope
    `openid`, say) must not open the admin API. A session user also needs the Django permission the
    admin would ask for (view, add, change or delete clients), so the API opens no door the admin keeps
    shut. SessionAuthentication has already checked the CSRF token.
    """

    def has_permission(self, request: Request, view: APIView) -> bool:
        authenticator = request.successful_authenticator
        if isinstance(authenticator, OAuth2Authentication):
            return super().has_permission(request, view)
        if isinstance(authenticator, SessionAuthentication):
            user = request.user
            if not (user.is_active and user.is_staff):
                return False
            action = view.session_permissions.get(request.method)
            # No permission for a method the view does not have: the view answers 405.
            return action is None or user.has_perm(f"clients.{action}_application")
        return False


class ClientsApiView(APIView):
    # The token first: an unauthenticated request is answered 401 with `WWW-Authenticate: Bearer`.
    authentication_classes = [OAuth2Authentication, SessionAuthentication]
    permission_classes = [IsGatehouseAdmin]
    required_scopes = [ADMIN_SCOPE]
    renderer_classes = [JSONRenderer]
    parser_classes = [JSONParser]
    # The Django permission a staff session needs for each method (IsGatehouseAdmin).
    session_permissions: dict[str, str] = {"GET": "view", "HEAD": "view", "OPTIONS": "view"}

    def handle_exception(self, exc: Exception) -> Response:
        # The services raise Django's ValidationError, keyed by the JSON field names: a 400, not a 500.
        if isinstance(exc, DjangoValidationError):
            exc = exceptions.ValidationError(serializers.as_serializer_error(exc))
        return super().handle_exception(exc)

    def _client(self, client_id: str) -> Application:
        return get_object_or_404(Application, client_id=client_id)


# Documented once for every operation; each answers a JSON object.
_ERRORS = {
    400: OpenApiResponse(description="Invalid fields: an object mapping each field to its messages."),
    401: OpenApiResponse(description="No valid access token and no session."),
    403: OpenApiResponse(
        description="A token without the scope gatehouse:admin, a session user who is not staff (or lacks the "
        "permission), or a session request without its CSRF token."
    ),
    404: OpenApiResponse(description="No client with this client_id."),
}


def _no_store(response: Response) -> Response:
    """A response that carries a secret is never cached (as for token responses, RFC 6749 §5.1)."""
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response


class StrictInputSerializer(serializers.Serializer):
    """Refuses fields it does not know (a misspelt `redirect_uri` must not be ignored in silence)."""

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(self.initial_data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError({name: ["Unknown or read-only field."] for name in unknown})
        return attrs


def _uris(**kwargs: Any) -> serializers.ListField:
    return serializers.ListField(child=serializers.CharField(), **kwargs)


class ClientFieldsInputSerializer(StrictInputSerializer):
    """The writable fields of a client, as clients.services names them."""

    name = serializers.CharField(allow_blank=True)  # the service says what is wrong with a blank one
    description = serializers.CharField(required=False, allow_blank=True)
    redirect_uris = _uris(required=False, help_text="https, or http only for loopback; no fragment, no wildcard.")
    post_logout_redirect_uris = _uris(required=False)
    grant = serializers.ChoiceField(choices=list(GRANTS), required=False)
    trusted = serializers.BooleanField(required=False, help_text="A first-party app: no consent page.")
    scopes = serializers.ListField(child=serializers.CharField(), required=False)
    allowed_upstreams = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="Empty: every configured upstream."
    )
    logo_url = serializers.CharField(required=False, allow_blank=True)
    brand_color = serializers.CharField(required=False, allow_blank=True, help_text="Like #1F6FEB.")
    homepage_url = serializers.CharField(required=False, allow_blank=True)
    privacy_policy_url = serializers.CharField(required=False, allow_blank=True)
    terms_url = serializers.CharField(required=False, allow_blank=True)
    contact_email = serializers.CharField(required=False, allow_blank=True)
    backchannel_logout_uri = serializers.CharField(required=False, allow_blank=True)
    access_token_format = serializers.ChoiceField(
        choices=Application.AccessTokenFormat.values, required=False,
        help_text="opaque (checked by introspection) or jwt (RFC 9068, validated locally with the JWKS).",
    )  # fmt: skip


@extend_schema_serializer(component_name="Client")
class ClientOutputSerializer(serializers.Serializer):
    """A client as every operation answers it: never its secret, nor the secret's hash."""

    client_id = serializers.CharField()
    name = serializers.CharField(allow_blank=True)  # the service says what is wrong with a blank one
    description = serializers.CharField()
    redirect_uris = serializers.ListField(child=serializers.CharField())
    post_logout_redirect_uris = serializers.ListField(child=serializers.CharField())
    grant = serializers.ChoiceField(choices=list(GRANTS))
    public = serializers.BooleanField()
    trusted = serializers.BooleanField()
    scopes = serializers.ListField(child=serializers.CharField())
    allowed_upstreams = serializers.ListField(child=serializers.CharField())
    logo_url = serializers.CharField()
    has_uploaded_logo = serializers.BooleanField()
    brand_color = serializers.CharField()
    homepage_url = serializers.CharField()
    privacy_policy_url = serializers.CharField()
    terms_url = serializers.CharField()
    contact_email = serializers.CharField()
    backchannel_logout_uri = serializers.CharField()
    access_token_format = serializers.ChoiceField(choices=Application.AccessTokenFormat.values)
    created = serializers.DateTimeField()
    updated = serializers.DateTimeField()

    def to_representation(self, application: Application) -> dict[str, Any]:
        data = {
            **client_fields(application),
            "client_id": application.client_id,
            "has_uploaded_logo": application.has_uploaded_logo,
            "created": application.created,
            "updated": application.updated,
        }
        return super().to_representation(data)


class ClientCollectionApi(ClientsApiView):
    """GET: list clients; POST: register one."""

    session_permissions = {**ClientsApiView.session_permissions, "POST": "add"}

    @extend_schema_serializer(component_name="ClientCreate")
    class CreateInputSerializer(ClientFieldsInputSerializer):
        public = serializers.BooleanField(required=False, help_text="No secret (SPA, native app). Cannot change.")

    @extend_schema_serializer(component_name="ClientCreated")
    class CreateOutputSerializer(ClientOutputSerializer):
        client_secret = serializers.CharField(
            allow_null=True, help_text="Shown only in this answer; null for public clients."
        )

        def to_representation(self, registered) -> dict[str, Any]:
            data = super().to_representation(registered.application)
            data["client_secret"] = registered.client_secret or None
            return data

    @extend_schema(operation_id="clients_list", responses={200: ClientOutputSerializer(many=True), **_ERRORS})
    def get(self, request: Request) -> Response:
        """Every registered client, by name."""
        applications = Application.objects.order_by("name", "pk")
        return Response(ClientOutputSerializer(applications, many=True).data)

    @extend_schema(
        operation_id="clients_create", request=CreateInputSerializer, responses={201: CreateOutputSerializer, **_ERRORS}
    )
    def post(self, request: Request) -> Response:
        """Register a client. A confidential client's secret is in this answer, and never again."""
        serializer = self.CreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        registered = client_register(request=request, via="api", **serializer.validated_data)
        return _no_store(Response(self.CreateOutputSerializer(registered).data, status=status.HTTP_201_CREATED))


class ClientDetailApi(ClientsApiView):
    """GET, PATCH, DELETE one client."""

    session_permissions = {**ClientsApiView.session_permissions, "PATCH": "change", "DELETE": "delete"}

    @extend_schema_serializer(component_name="ClientUpdate")
    class UpdateInputSerializer(ClientFieldsInputSerializer):
        """Only the fields sent change. The client type (`public`) cannot."""

    @extend_schema(operation_id="clients_retrieve", responses={200: ClientOutputSerializer, **_ERRORS})
    def get(self, request: Request, client_id: str) -> Response:
        """One client."""
        return Response(ClientOutputSerializer(self._client(client_id)).data)

    @extend_schema(
        operation_id="clients_update", request=UpdateInputSerializer, responses={200: ClientOutputSerializer, **_ERRORS}
    )
    def patch(self, request: Request, client_id: str) -> Response:
        """Change the fields sent, checked as at registration. The client type cannot change."""
        application = self._client(client_id)
        serializer = self.UpdateInputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        application = client_update(application=application, request=request, via="api", **serializer.validated_data)
        return Response(ClientOutputSerializer(application).data)

    @extend_schema(operation_id="clients_delete", responses={204: None, **_ERRORS})
    def delete(self, request: Request, client_id: str) -> Response:
        """Delete a client with its consents, codes and tokens: none of them works afterwards."""
        client_delete(application=self._client(client_id), request=request, via="api")
        return Response(status=status.HTTP_204_NO_CONTENT)


class ClientRotateSecretApi(ClientsApiView):
    """POST: a new secret, answered once; the old one stops working at once."""

    session_permissions = {**ClientsApiView.session_permissions, "POST": "change"}
    # It reads no body, so whatever an HTTP tool sends with an empty POST is fine.
    parser_classes = [JSONParser, FormParser, MultiPartParser]

    @extend_schema_serializer(component_name="ClientSecret")
    class OutputSerializer(serializers.Serializer):
        client_id = serializers.CharField()
        client_secret = serializers.CharField(help_text="Shown only in this answer.")

    @extend_schema(operation_id="clients_rotate_secret", request=None, responses={200: OutputSerializer, **_ERRORS})
    def post(self, request: Request, client_id: str) -> Response:
        """A new secret, in this answer only; the old one stops working at once. Public clients: 400."""
        application = self._client(client_id)
        secret = client_rotate_secret(application=application, request=request, via="api")
        data = self.OutputSerializer({"client_id": application.client_id, "client_secret": secret}).data
        return _no_store(Response(data))
