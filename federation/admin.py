"""Admin for federation: linked identities (read-only, no credentials) and token-exchange clients."""

from __future__ import annotations

import social_django.admin  # noqa: F401  (registers social-auth's admins first, so ours can replace one)
from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from social_django.models import UserSocialAuth

from federation.models import TokenExchangeClient

admin.site.unregister(UserSocialAuth)


@admin.register(UserSocialAuth)
class LinkedIdentityAdmin(admin.ModelAdmin):
    """social-auth's own admin edits `extra_data` as raw JSON, where upstream tokens would live.

    Gatehouse never stores them (federation/services.py, identity_record_use), and this admin shows only
    named fields, so none could appear here even from an old row. Identities change through sign-ins
    and /account/, not by hand.
    """

    list_display = ("user", "provider", "uid", "email", "created", "last_used")
    list_filter = ("provider",)
    search_fields = ("uid", "user__email", "user__username")
    list_select_related = ("user",)
    fields = ("user", "provider", "uid", "email", "created", "last_used")
    readonly_fields = fields

    @admin.display(description=_("email"))
    def email(self, obj: UserSocialAuth) -> str:
        return str((obj.extra_data or {}).get("email") or "")

    @admin.display(description=_("last used"))
    def last_used(self, obj: UserSocialAuth):
        return obj.modified

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(TokenExchangeClient)
class TokenExchangeClientAdmin(admin.ModelAdmin):
    list_display = ("application", "upstreams", "created")
    raw_id_fields = ("application",)
