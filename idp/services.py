"""Writes to the provider core: people and the audit trail."""

from __future__ import annotations

import re
import secrets

from django.db import IntegrityError, transaction
from django.http import HttpRequest

from idp.models import AuditEvent, User

_NOT_USERNAME = re.compile(r"[^\w.@+-]+")


def _username_base(*candidates: str) -> str:
    """The first readable candidate, kept as written ("홍길동" stays "홍길동"), cut to Django's charset."""
    for candidate in candidates:
        base = _NOT_USERNAME.sub(".", candidate.strip()).strip(".")[:120]
        if base:
            return base
    return "user"


def user_create(
    *,
    email: str = "",
    email_verified: bool = False,
    name: str = "",
    given_name: str = "",
    family_name: str = "",
    picture: str = "",
    locale: str = "",
    nickname: str = "",
) -> User:
    """Create a person with a readable, unique username (alice, alice2, ...), never random hex."""
    base = _username_base(nickname, name, email.split("@", 1)[0])
    candidates = [base] + [f"{base}{n}" for n in range(2, 50)] + [f"{base}.{secrets.token_hex(3)}"]
    for username in candidates:
        if User.objects.filter(username=username).exists():
            continue
        try:
            with transaction.atomic():
                user = User(
                    username=username,
                    email=email,
                    email_verified=email_verified and bool(email),
                    name=name,
                    first_name=given_name[:150],
                    last_name=family_name[:150],
                    picture=picture[:1000],
                    locale=locale[:35],
                )
                user.set_unusable_password()
                user.save()
                return user
        except IntegrityError:
            continue  # taken by a concurrent sign-in a moment ago: try the next name
    raise IntegrityError("no free username")


def _client_ip(request: HttpRequest | None) -> str | None:
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


def _user_agent(request: HttpRequest | None) -> str:
    if request is None:
        return ""
    return str(request.META.get("HTTP_USER_AGENT", ""))[: AuditEvent._meta.get_field("user_agent").max_length]


def audit_record(
    *,
    event: str,
    request: HttpRequest | None = None,
    user: User | None = None,
    client_id: str = "",
    provider: str = "",
    outcome: str = AuditEvent.Outcome.SUCCESS,
    **data,
) -> AuditEvent:
    """Record a security-relevant event. Never pass secrets or tokens in `data`."""
    return AuditEvent.objects.create(
        event=event,
        outcome=outcome,
        user=user,
        client_id=client_id,
        provider=provider,
        ip=_client_ip(request),
        user_agent=_user_agent(request),
        data=data,
    )
