"""The REST API for administrators, mounted under /api/ (INTERFACE.md)."""

from csp.constants import SELF, UNSAFE_INLINE
from csp.decorators import csp_replace
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from clients import api

urlpatterns = [
    path("clients/", api.ClientCollectionApi.as_view(), name="api-clients"),
    path("clients/<str:client_id>/", api.ClientDetailApi.as_view(), name="api-client"),
    path(
        "clients/<str:client_id>/rotate-secret/",
        api.ClientRotateSecretApi.as_view(),
        name="api-client-rotate-secret",
    ),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # Swagger UI from our own static files (drf-spectacular-sidecar), its script in a file, not inline:
    # the CSP allows scripts from 'self' only. Swagger UI sets inline styles, so this page alone allows them.
    path(
        "docs/",
        csp_replace({"style-src": [SELF, UNSAFE_INLINE]})(SpectacularSwaggerSplitView.as_view(url_name="api-schema")),
        name="api-docs",
    ),
]
