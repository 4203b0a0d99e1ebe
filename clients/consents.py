"""Consent: what a person allowed each client, remembered until they revoke it (services and selectors)."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_refresh_token_model

from clients.models import Application, Consent
from idp.models import User
from idp.services import audit_record


def consent_missing_scopes(*, user: User, application: Application, scopes: list[str]) -> list[str]:
    """The requested scopes this person has not granted this client yet (all of them if none)."""
    consent = Consent.objects.filter(user=user, application=application).only("scopes").first()
    granted = consent.scope_set if consent else set()
    return [scope for scope in scopes if scope not in granted]


def consent_grant(*, user: User, application: Application, scopes: list[str], request: HttpRequest | None = None) -> Consent:
    """Remember an approval; scopes granted before stay granted (the page asked only for new ones)."""
    now = timezone.now()
    with transaction.atomic():
        consent = Consent.objects.select_for_update().filter(user=user, application=application).first()
        if consent is None:
            try:
                with transaction.atomic():
                    consent = Consent.objects.create(
                        user=user, application=application, scopes=" ".join(scopes), last_used_at=now
                    )
            except IntegrityError:  # a second tab approved at the same moment
                consent = Consent.objects.select_for_update().get(user=user, application=application)
        merged = sorted(consent.scope_set | set(scopes))
        consent.scopes, consent.last_used_at = " ".join(merged), now
        consent.save(update_fields=["scopes", "last_used_at"])
    audit_record(
        event="consent.granted", request=request, user=user, client_id=application.client_id, scopes=sorted(scopes)
    )
    return consent


def consent_touch(*, user: User, application: Application) -> None:
    Consent.objects.filter(user=user, application=application).update(last_used_at=timezone.now())


def consent_revoke(*, user: User, application: Application, request: HttpRequest | None = None) -> None:
    """Forget the consent and revoke every access and refresh token this person gave this client."""
    with transaction.atomic():
        Consent.objects.filter(user=user, application=application).delete()
        refresh_tokens = get_refresh_token_model().objects.filter(
            user=user, application=application, revoked__isnull=True
        )
        for refresh_token in refresh_tokens:
            refresh_token.revoke()  # also deletes its access token
        get_access_token_model().objects.filter(user=user, application=application).delete()
    audit_record(event="consent.revoked", request=request, user=user, client_id=application.client_id)


def consent_list_for_user(*, user: User) -> QuerySet[Consent]:
    return Consent.objects.filter(user=user).select_related("application").order_by("application__name")
