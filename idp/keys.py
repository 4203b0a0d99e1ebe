"""Signing keys held in the database and shared by every worker and node (DESIGN.md).

Each key is parsed once per process; the list of keys is re-read at most every
KEYSET_TTL_SECONDS, so a `rotatekeys` on any node reaches all running nodes without a restart.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from cryptography.fernet import Fernet
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from jwcrypto import jwk

from idp.models import SigningKey

# 60 s unless GATEHOUSE_KEYSET_TTL_SECONDS lowers it (settings.py).
KEYSET_TTL_SECONDS = getattr(settings, "GATEHOUSE_KEYSET_TTL_SECONDS", 60)
UNKNOWN_KID_REFRESH_SECONDS = 5
RSA_BITS = 2048


@dataclass(frozen=True)
class KeySet:
    active: jwk.JWK | None
    active_kid: str | None
    by_kid: dict[str, jwk.JWK]
    published: list[dict]
    loaded_at: float


_lock = threading.Lock()
_keyset: KeySet | None = None
_parsed: dict[str, jwk.JWK] = {}


def _fernet() -> Fernet:
    # A dedicated key derived from SECRET_KEY, so the database alone never reveals the private keys.
    digest = hashlib.sha256(b"gatehouse.signing-key-encryption:" + settings.SECRET_KEY.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _decrypt(row: SigningKey) -> jwk.JWK:
    key = _parsed.get(row.kid)
    if key is None:
        pem = _fernet().decrypt(row.private_key_encrypted.encode())
        key = jwk.JWK.from_pem(pem)
        _parsed[row.kid] = key
    return key


def key_create(*, activate: bool) -> SigningKey:
    """Generate a new RSA key; with activate=True it becomes the signing key and the old one retires."""
    key = jwk.JWK.generate(kty="RSA", size=RSA_BITS)
    kid = key.thumbprint()
    public = json.loads(key.export_public())
    public.update({"kid": kid, "alg": "RS256", "use": "sig"})
    encrypted = _fernet().encrypt(key.export_to_pem(private_key=True, password=None)).decode()
    now = timezone.now()
    with transaction.atomic():
        if activate:
            SigningKey.objects.filter(activated_at__isnull=False, retired_at__isnull=True).update(retired_at=now)
        row = SigningKey.objects.create(
            kid=kid, private_key_encrypted=encrypted, public_jwk=public, activated_at=now if activate else None
        )
    invalidate()
    return row


def _active_row() -> SigningKey | None:
    return SigningKey.objects.filter(activated_at__isnull=False, retired_at__isnull=True).order_by("-activated_at").first()


def _ensure_active_key() -> None:
    """Created on first use, once: workers starting together on a fresh database must agree on one key."""
    if _active_row() is not None:
        return
    try:
        with transaction.atomic():
            # Check again under a lock, or racing workers each create a key and serve different JWKS for a
            # minute. SQLite's IMMEDIATE transactions hold the write lock already; PostgreSQL has no row to
            # lock yet, so it takes a table lock that conflicts with itself.
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute(f'LOCK TABLE "{SigningKey._meta.db_table}" IN SHARE ROW EXCLUSIVE MODE')
            if _active_row() is None:
                key_create(activate=True)
    except IntegrityError:  # pragma: no cover - a kid collision is astronomically unlikely
        pass


def _retention() -> timedelta:
    # A retired key stays published until every token it signed has expired.
    return timedelta(seconds=max(settings.ID_TOKEN_SECONDS, settings.ACCESS_TOKEN_SECONDS) + KEYSET_TTL_SECONDS)


def _load() -> KeySet:
    _ensure_active_key()
    cutoff = timezone.now() - _retention()
    rows = list(SigningKey.objects.exclude(retired_at__lt=cutoff).filter(activated_at__isnull=False))
    active_row = max((r for r in rows if r.retired_at is None), key=lambda r: r.activated_at, default=None)
    by_kid = {row.kid: _decrypt(row) for row in rows}
    return KeySet(
        active=by_kid[active_row.kid] if active_row else None,
        active_kid=active_row.kid if active_row else None,
        by_kid=by_kid,
        published=[row.public_jwk for row in rows],
        loaded_at=time.monotonic(),
    )


def keyset() -> KeySet:
    """The current keys, read from the database at most every KEYSET_TTL_SECONDS."""
    global _keyset
    current = _keyset
    if current is None or time.monotonic() - current.loaded_at > KEYSET_TTL_SECONDS:
        with _lock:
            current = _keyset
            if current is None or time.monotonic() - current.loaded_at > KEYSET_TTL_SECONDS:
                current = _keyset = _load()
    return current


def active_key() -> jwk.JWK:
    return keyset().active


def key_for_kid(kid: str | None) -> jwk.JWK | None:
    """The key a token names in its header; an unknown kid forces one early re-read (a fresh rotation)."""
    if not kid:
        return None
    current = keyset()
    key = current.by_kid.get(kid)
    # Re-read at most every few seconds, so tokens with made-up kids cannot hammer the database.
    if key is None and time.monotonic() - current.loaded_at > UNKNOWN_KID_REFRESH_SECONDS:
        invalidate()
        key = keyset().by_kid.get(kid)
    return key


def invalidate() -> None:
    global _keyset
    _keyset = None
