"""The Django admin for clients, consents and issued credentials.

django-oauth-toolkit registers the client and token admins itself, with the classes named in
OAUTH2_PROVIDER (idp/settings.py: APPLICATION_ADMIN_CLASS, ACCESS_TOKEN_ADMIN_CLASS, ...). This module
must therefore never import `oauth2_provider.admin`: that module imports these classes back.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files import File
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.cache import add_never_cache_headers
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from oauth2_provider.models import revoke_access_token
from social_core.backends.utils import load_backends

from clients.models import Application, Consent
from clients.services import (
    GRANTS,
    client_delete,
    client_fields,
    client_register,
    client_remove_logo,
    client_rotate_secret,
    client_set_logo,
    client_update,
    client_validate,
    validate_logo_file,
)

# Only read by _secret_page's template; never stored (not in the session, the messages or a cookie).
_SECRET_TEMPLATE = "admin/clients/application/secret_once.html"


def _lines(value: str) -> list[str]:
    return value.split()


class ApplicationForm(forms.ModelForm):
    """The client's fields as the services name them; the services check them (clients.services)."""

    name = forms.CharField(label=_("name"), max_length=255)
    description = forms.CharField(
        label=_("short description"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    public = forms.BooleanField(
        label=_("public client"), required=False,
        help_text=_("A browser or native app that cannot keep a secret (it uses PKCE only). Cannot change later."),
    )  # fmt: skip
    grant = forms.ChoiceField(
        label=_("grant"), choices=[(g, g) for g in GRANTS], initial="authorization-code", widget=forms.RadioSelect,
        help_text=_("authorization-code: people sign in; client-credentials: a service acting for itself."),
    )  # fmt: skip
    redirect_uris = forms.CharField(
        label=_("redirect URIs"), required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("One per line. https, or http only for loopback addresses; no fragments or wildcards."),
    )  # fmt: skip
    post_logout_redirect_uris = forms.CharField(
        label=_("post-logout redirect URIs"), required=False, widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("One per line, same rules as redirect URIs."),
    )  # fmt: skip
    backchannel_logout_uri = forms.CharField(label=_("back-channel logout URI"), required=False)
    scopes = forms.MultipleChoiceField(
        label=_("allowed scopes"), required=False, widget=forms.CheckboxSelectMultiple,
        help_text=_("What this client may ask for. gatehouse:admin is for client-credentials clients only."),
    )  # fmt: skip
    trusted = forms.BooleanField(
        label=_("trusted"), required=False, help_text=_("A first-party app: the consent page is skipped.")
    )
    allowed_upstreams = forms.MultipleChoiceField(
        label=_("allowed upstreams"), required=False, widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: every upstream configured here is offered."),
    )  # fmt: skip
    logo_url = forms.CharField(label=_("logo URL"), required=False, help_text=_("An https URL."))
    logo_file = forms.FileField(
        label=_("upload a logo"), required=False,
        help_text=_("PNG, JPEG, WebP or GIF, at most 256 KB; shown instead of the logo URL."),
    )  # fmt: skip
    remove_logo = forms.BooleanField(label=_("remove the uploaded logo"), required=False)
    brand_color = forms.CharField(label=_("brand colour"), required=False, help_text=_("Like #1F6FEB."))
    homepage_url = forms.CharField(label=_("homepage"), required=False)
    privacy_policy_url = forms.CharField(label=_("privacy policy URL"), required=False)
    terms_url = forms.CharField(label=_("terms of service URL"), required=False)
    contact_email = forms.CharField(label=_("contact email"), required=False)
    access_token_format = forms.ChoiceField(
        label=_("access token format"), choices=Application.AccessTokenFormat.choices, required=False,
        initial=Application.AccessTokenFormat.OPAQUE, widget=forms.RadioSelect,
        help_text=_("JWT access tokens let APIs validate them without calling Gatehouse (docs/resource-servers.md)."),
    )  # fmt: skip

    class Meta:
        model = Application
        fields: tuple[str, ...] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        scopes = settings.GATEHOUSE_SCOPES.items()
        self.fields["scopes"].choices = [(scope, f"{scope}: {text}") for scope, text in scopes]
        upstreams = load_backends(settings.AUTHENTICATION_BACKENDS)
        self.fields["allowed_upstreams"].choices = [(name, name) for name in upstreams]
        if self.instance._state.adding:
            self.fields.pop("remove_logo")
            self.initial.setdefault("scopes", list(settings.GATEHOUSE_DEFAULT_CLIENT_SCOPES))
        else:
            self.fields.pop("public")  # the client type never changes (clients.services.client_validate)
            current = client_fields(self.instance)
            for name in ("redirect_uris", "post_logout_redirect_uris"):
                current[name] = "\n".join(current[name])
            self.initial.update({name: value for name, value in current.items() if name in self.fields})

    def clean_logo_file(self) -> File | None:
        uploaded = self.cleaned_data.get("logo_file")
        if uploaded:
            validate_logo_file(uploaded)
        return uploaded

    def service_fields(self) -> dict[str, Any]:
        """The cleaned fields as keyword arguments of client_register / client_update."""
        data = {name: self.cleaned_data[name] for name in self.fields if name in self.cleaned_data}
        for name in ("redirect_uris", "post_logout_redirect_uris"):
            if name in data:
                data[name] = _lines(data[name])
        data.pop("logo_file", None)
        data.pop("remove_logo", None)
        if not data.get("access_token_format"):
            data.pop("access_token_format", None)  # not sent: keep the current (or default) format
        return data

    def _post_clean(self) -> None:
        # Instead of the ModelForm's own model validation: the service is the one place the rules for
        # a client live (shared with the REST API and createclient). Its errors are keyed by our field
        # names; a field that already failed its own cleaning keeps that error only.
        try:
            client_validate(application=None if self.instance._state.adding else self.instance, **self.service_fields())
        except ValidationError as exc:
            for field, field_messages in exc.message_dict.items():
                if field not in self.fields:
                    self.add_error(None, field_messages)
                elif field not in self.errors:
                    self.add_error(field, field_messages)


class ApplicationAdmin(admin.ModelAdmin):
    form = ApplicationForm
    list_display = ("name", "client_id", "client_type", "authorization_grant_type", "trusted", "created")
    list_filter = ("client_type", "authorization_grant_type", "trusted")
    search_fields = ("name", "client_id")
    readonly_fields = ("client_id", "client_type", "uploaded_logo", "created", "updated")
    actions = ("rotate_secret",)
    change_form_template = "admin/clients/application/change_form.html"
    # django-oauth-toolkit's get_absolute_url names its client-management pages, which we do not mount.
    view_on_site = False
    # Never the secret, not even its hash.
    _branding = ("description", "logo_url", "logo_file", "brand_color", "homepage_url", "privacy_policy_url",
                 "terms_url", "contact_email")  # fmt: skip
    _protocol = ("grant", "redirect_uris", "post_logout_redirect_uris", "backchannel_logout_uri", "scopes",
                 "trusted", "allowed_upstreams", "access_token_format")  # fmt: skip

    def get_fieldsets(self, request: HttpRequest, obj: Application | None = None) -> list[tuple[Any, dict]]:
        if obj is None:
            return [
                (None, {"fields": ("name", "public")}),
                (_("Sign-in"), {"fields": self._protocol}),
                (_("Branding"), {"fields": self._branding}),
            ]
        return [
            (None, {"fields": ("name", "client_id", "client_type")}),
            (_("Sign-in"), {"fields": self._protocol}),
            (_("Branding"), {"fields": (*self._branding, "uploaded_logo", "remove_logo")}),
            (_("Dates"), {"fields": ("created", "updated")}),
        ]

    @admin.display(description=_("uploaded logo"))
    def uploaded_logo(self, obj: Application) -> str:
        if not obj.has_uploaded_logo:
            return "—"
        return format_html('<img src="{}" alt="" height="48">', obj.logo_src)

    # --- saving goes through the services -------------------------------------------------------------

    def save_form(self, request: HttpRequest, form: ApplicationForm, change: bool) -> Application:
        if change:
            application = client_update(
                application=form.instance, request=request, via="admin", **form.service_fields()
            )
        else:
            registered = client_register(request=request, via="admin", **form.service_fields())
            application = registered.application
            # Handed to response_add within this request only.
            request._gatehouse_client_secret = registered.client_secret  # type: ignore[attr-defined]
        if form.cleaned_data.get("logo_file"):
            client_set_logo(
                application=application, uploaded_file=form.cleaned_data["logo_file"], request=request, via="admin"
            )
        elif form.cleaned_data.get("remove_logo"):
            client_remove_logo(application=application, request=request, via="admin")
        return application

    def save_model(self, request: HttpRequest, obj: Application, form: ApplicationForm, change: bool) -> None:
        """Already saved by the service in save_form."""

    def save_related(self, request: HttpRequest, form: ApplicationForm, formsets: list, change: bool) -> None:
        """A client has no inlines or many-to-many fields."""

    def delete_model(self, request: HttpRequest, obj: Application) -> None:
        client_delete(application=obj, request=request, via="admin")

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Application]) -> None:
        for application in queryset:
            client_delete(application=application, request=request, via="admin")

    def response_add(
        self, request: HttpRequest, obj: Application, post_url_continue: str | None = None
    ) -> HttpResponse:
        secret = getattr(request, "_gatehouse_client_secret", "")
        if not secret:
            return super().response_add(request, obj, post_url_continue)
        # A page, not a message: messages live in the session or a cookie, which would keep the secret.
        return self._secret_page(request, [(obj, secret)], title=_("Client registered"))

    # --- rotating secrets ---------------------------------------------------------------------------

    @admin.action(description=_("Rotate the secret of the selected clients"), permissions=["change"])
    def rotate_secret(self, request: HttpRequest, queryset: QuerySet[Application]) -> HttpResponse | None:
        rotated = [
            (application, client_rotate_secret(application=application, request=request, via="admin"))
            for application in queryset.filter(client_type=Application.CLIENT_CONFIDENTIAL).order_by("name")
        ]
        skipped = queryset.exclude(client_type=Application.CLIENT_CONFIDENTIAL).count()
        if skipped:
            self.message_user(
                request,
                ngettext("%d public client has no secret.", "%d public clients have no secret.", skipped) % skipped,
            )
        if not rotated:
            return None
        return self._secret_page(request, rotated, title=_("New client secrets"))

    def rotate_secret_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The change page's "Rotate secret" button: a confirmation (GET), then the new secret once (POST)."""
        application = self.get_object(request, unquote(object_id))
        if application is None:
            raise Http404
        if not self.has_change_permission(request, application):
            raise PermissionDenied
        if application.client_type != Application.CLIENT_CONFIDENTIAL:
            self.message_user(request, _("Public clients have no secret."), messages.WARNING)
            return HttpResponseRedirect(reverse("admin:clients_application_change", args=[application.pk]))
        if request.method == "POST":
            secret = client_rotate_secret(application=application, request=request, via="admin")
            return self._secret_page(request, [(application, secret)], title=_("New client secret"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": application,
            "title": _("Rotate the secret of %(name)s?") % {"name": application.name},
        }
        return TemplateResponse(request, "admin/clients/application/rotate_secret_confirm.html", context)

    def get_urls(self) -> list[URLPattern]:
        rotate = path(
            "<path:object_id>/rotate-secret/",
            self.admin_site.admin_view(self.rotate_secret_view),
            name="clients_application_rotate_secret",
        )
        return [rotate, *super().get_urls()]

    def _secret_page(self, request: HttpRequest, secrets: list[tuple[Application, str]], *, title: str) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "secrets": secrets,
        }
        response = TemplateResponse(request, _SECRET_TEMPLATE, context)
        # Not kept by the browser's cache or any proxy.
        add_never_cache_headers(response)
        response["Cache-Control"] += ", no-store"
        return response


@admin.register(Consent)
class ConsentAdmin(admin.ModelAdmin):
    """Read-only: people grant and revoke consent themselves (the consent page, /account/)."""

    list_display = ("user", "application", "scopes", "granted_at", "last_used_at")
    list_select_related = ("user", "application")
    search_fields = ("user__username", "user__email", "application__name", "application__client_id")
    list_filter = ("application",)
    fields = ("user", "application", "scopes", "granted_at", "last_used_at")
    readonly_fields = fields
    date_hierarchy = "granted_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Consent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Consent | None = None) -> bool:
        return False


# --- issued credentials: access and refresh tokens, authorization codes, ID tokens -------------------


class IssuedCredentialAdmin(admin.ModelAdmin):
    """Tokens and codes are issued by the protocol, never typed in.

    Their values are live credentials (or their checksums): none is displayed, and none is searchable
    (a search would also put the value in the URL, so in access logs and browser history).
    django-oauth-toolkit's own admins show a masked value; these show none.
    """

    list_select_related = ("application", "user")
    list_filter = ("application",)
    search_fields = ("application__client_id", "application__name", "user__username", "user__email")
    fields: tuple[str, ...] = ()

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return self.fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Revoke instead: a deleted row would lose the revoked refresh token that reuse protection
        # (RFC 9700 §4.14.2) checks. `cleartokens` prunes expired rows.
        return False

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")


class AccessTokenAdmin(IssuedCredentialAdmin):
    list_display = ("pk", "user", "application", "scope", "expires")
    fields = ("user", "application", "scope", "expires", "created", "updated", "source_refresh_token", "id_token")
    actions = ("revoke_tokens",)

    @admin.action(description=_("Revoke the selected access tokens"), permissions=["revoke"])
    def revoke_tokens(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = 0
        for access_token in queryset:
            revoke_access_token(access_token)  # also revokes its refresh token
            count += 1
        self.message_user(request, ngettext("Revoked %d access token.", "Revoked %d access tokens.", count) % count)


class RefreshTokenAdmin(IssuedCredentialAdmin):
    list_display = ("pk", "user", "application", "created", "revoked")
    fields = ("user", "application", "access_token", "token_family", "created", "updated", "revoked")
    actions = ("revoke_tokens",)

    @admin.action(description=_("Revoke the selected refresh tokens"), permissions=["revoke"])
    def revoke_tokens(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = 0
        for refresh_token in queryset:
            refresh_token.revoke()  # also revokes its access token
            count += 1
        self.message_user(request, ngettext("Revoked %d refresh token.", "Revoked %d refresh tokens.", count) % count)


class GrantAdmin(IssuedCredentialAdmin):
    list_display = ("pk", "user", "application", "expires")
    fields = ("user", "application", "redirect_uri", "scope", "expires", "created", "updated")


class IDTokenAdmin(IssuedCredentialAdmin):
    list_display = ("jti", "user", "application", "expires")
    fields = ("jti", "user", "application", "scope", "expires", "created", "updated")
