"""The client admin. Registered by django-oauth-toolkit through APPLICATION_ADMIN_CLASS (idp/settings.py)."""

from django.contrib import admin, messages
from django.utils.translation import gettext as _

from clients.models import generate_client_secret


class ApplicationAdmin(admin.ModelAdmin):
    list_display = ("name", "client_id", "client_type", "authorization_grant_type", "trusted", "created")
    list_filter = ("client_type", "authorization_grant_type", "trusted")
    search_fields = ("name", "client_id")
    readonly_fields = ("client_id", "created", "updated")
    fields = (
        "name", "client_id", "client_type", "authorization_grant_type", "redirect_uris",
        "post_logout_redirect_uris", "scopes", "trusted", "logo_url", "homepage_url",
        "backchannel_logout_uri", "created", "updated",
    )  # fmt: skip  (never the secret, not even its hash)

    def save_model(self, request, obj, form, change):
        secret = ""
        if not change and obj.client_type == obj.CLIENT_CONFIDENTIAL:
            secret = obj.client_secret = generate_client_secret()
        elif not change:
            obj.client_secret = ""
        super().save_model(request, obj, form, change)
        if secret:
            messages.warning(
                request, _("Client secret (shown only now, copy it): %(secret)s") % {"secret": secret}
            )
