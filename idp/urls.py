"""Gatehouse's URLs (INTERFACE.md)."""

from django.contrib import admin
from django.urls import include, path, re_path
from oauth2_provider import views as dot
from oauth2_provider.urls import base_urlpatterns
from social_django import urls as social_urls

from clients import views as clients_views
from federation import views as federation_views
from idp import metrics, views
from idp.fastpath import cache_document
from idp.logout import EndSessionView

# django-oauth-toolkit's endpoints under /o/, with Gatehouse's views where we extend them. Its
# application-management pages are left out: clients are registered by administrators only.
oauth2_patterns = (
    [
        # GET or POST (OIDC Core §3.1.2.1), and the consent form (clients/views.py).
        path("authorize/", clients_views.authorize, name="authorize"),
        path("introspect/", views.IntrospectView.as_view(), name="introspect"),
        path("token/", views.TokenView.as_view(), name="token"),
        *[p for p in base_urlpatterns if p.name == "revoke-token"],
        path(".well-known/jwks.json", views.JwksView.as_view(), name="jwks-info"),
        path("userinfo/", dot.UserInfoView.as_view(), name="user-info"),
        # Ends the single sign-on session: its refresh tokens, back-channel logout (idp/logout.py).
        path("logout/", EndSessionView.as_view(), name="rp-initiated-logout"),
        # DOT reverses this name for its own discovery view; ours at the root is the one to use.
        re_path(r"^\.well-known/openid-configuration/?$", cache_document(views.DiscoveryView.as_view()), name="oidc-connect-discovery-info"),
    ],
    "oauth2_provider",
)

urlpatterns = [
    # Built once per process (idp/fastpath.py): they change only with the settings.
    path(".well-known/openid-configuration", cache_document(views.DiscoveryView.as_view()), name="discovery"),
    path(".well-known/oauth-authorization-server", cache_document(views.ServerMetadataView.as_view()), name="oauth-metadata"),
    path("o/", include(oauth2_patterns)),
    path("login/", federation_views.login_page, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("account/", views.account_page, name="account"),
    path("account/apps/<str:client_id>/revoke/", clients_views.connected_app_revoke, name="connected-app-revoke"),
    path("account/identities/<int:identity_id>/unlink/", federation_views.unlink, name="identity-unlink"),
    path("account/delete/", federation_views.delete_account, name="account-delete"),
    path("clients/<str:client_id>/logo", clients_views.client_logo, name="client-logo"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("healthz", views.healthz, name="healthz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("demo/callback", views.demo_callback, name="demo-callback"),
    path("federation/", include("federation.urls")),
    path("admin/", admin.site.urls),
    path("api/", include("clients.urls")),
    # social-auth-app-django: /login/<backend>/ (POST only) and /complete/<backend>/. Its launch and
    # disconnect views are not mounted: unlinking goes through /account/.
    # /complete/<backend>/ is social-auth's callback behind federation's check for "sign in or connect?";
    # it precedes social-auth's own route for the same path.
    path("complete/<str:backend>/", federation_views.complete, name="upstream-complete"),
    path("", include(([p for p in social_urls.urlpatterns if p.name in ("begin", "complete")], "social"))),
]

# A database that does not answer becomes a 503 (JSON on OAuth endpoints, a page elsewhere), not a 500.
handler500 = "idp.errors.server_error"
