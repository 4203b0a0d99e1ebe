"""Reads of the federation app: a person's linked identities, what else they could connect."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from social_django.models import UserSocialAuth

from federation.models import TokenExchangeClient
from federation.providers import PROVIDERS, Provider, offered_providers, provider_name
from idp.models import User


@dataclass(frozen=True)
class LinkedIdentity:
    id: int
    backend: str
    provider_name: str
    icon_template: str
    email: str
    linked_since: datetime
    last_used: datetime | None


def _last_used(identity: UserSocialAuth) -> datetime | None:
    auth_time = (identity.extra_data or {}).get("auth_time")
    if isinstance(auth_time, int | float) and not isinstance(auth_time, bool):
        return datetime.fromtimestamp(auth_time, tz=timezone.utc)
    return None


def identity_list_for_user(*, user: User) -> list[LinkedIdentity]:
    rows = UserSocialAuth.objects.filter(user=user).order_by("created", "pk")
    return [
        LinkedIdentity(
            id=row.pk,
            backend=row.provider,
            provider_name=provider_name(row.provider),
            icon_template=(PROVIDERS.get(row.provider) or PROVIDERS["oidc"]).icon_template,
            email=str((row.extra_data or {}).get("email") or ""),
            linked_since=row.created,
            last_used=_last_used(row),
        )
        for row in rows
    ]


def connectable_providers(*, user: User) -> list[Provider]:
    """The offered upstreams the person has not linked an account of yet."""
    linked = set(UserSocialAuth.objects.filter(user=user).values_list("provider", flat=True))
    return [provider for provider in offered_providers() if provider.backend not in linked]


def token_exchange_client(*, client) -> TokenExchangeClient | None:
    """The token-exchange permission of a client, if an administrator gave it one."""
    return TokenExchangeClient.objects.filter(application=client).first()
