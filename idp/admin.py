from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.utils.translation import gettext_lazy as _

from idp.models import AuditEvent, LogoutDelivery, SigningKey, User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ("username", "email", "email_verified", "name", "is_staff", "date_joined")
    search_fields = ("username", "email", "name", "sub")
    readonly_fields = ("sub", "last_login", "date_joined")
    fieldsets = (
        (None, {"fields": ("username", "sub", "password")}),
        (_("Profile"), {"fields": ("name", "first_name", "last_name", "email", "email_verified", "picture", "locale")}),
        (_("Permissions"), {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        (_("Dates"), {"fields": ("last_login", "date_joined")}),
    )


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(SigningKey)
class SigningKeyAdmin(ReadOnlyAdmin):
    list_display = ("kid", "created", "activated_at", "retired_at")
    # The encrypted private key is never shown.
    fields = ("kid", "public_jwk", "created", "activated_at", "retired_at")


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("created", "event", "outcome", "user", "provider", "client_id", "ip")
    list_filter = ("event", "outcome", "provider")
    search_fields = ("user__email", "user__username", "client_id")
    date_hierarchy = "created"

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(LogoutDelivery)
class LogoutDeliveryAdmin(ReadOnlyAdmin):
    """Back-channel logout tokens: sent, waiting for a retry, or given up on (idp/backchannel.py)."""

    list_display = ("created", "application", "state", "attempts", "next_attempt_at", "last_error")
    list_filter = ("state",)
    fields = ("application", "uri", "sub", "sid", "jti", "state", "attempts", "next_attempt_at", "last_error",
              "created", "delivered_at")  # fmt: skip
