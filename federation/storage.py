"""social-auth's Django storage, with its one-time values written and spent in one statement each.

A sign-in through an OpenID Connect upstream stores two one-time values: the `state` (social-core's replay
guard, a Nonce row) and the OIDC `nonce` (an Association row), and spends both on the callback. The stock
storage reads before every write: SELECT then INSERT for each value, SELECT then DELETE for the nonce.
The unique constraints on both tables already make an INSERT refuse a duplicate, and a DELETE's row count
already says whether the value was there, so each step needs one statement (docs/performance.md).
"""

from __future__ import annotations

import base64

from django.db import IntegrityError, transaction
from social_django.models import Association, DjangoStorage, Nonce


class OneStatementNonce(Nonce):
    class Meta:
        proxy = True
        app_label = "federation"

    @classmethod
    def use(cls, server_url, timestamp, salt) -> bool:
        """True the first time (server_url, timestamp, salt) is used, False ever after."""
        try:
            with transaction.atomic():
                cls.objects.create(server_url=server_url, timestamp=timestamp, salt=salt)
        except IntegrityError:
            return False  # (server_url, timestamp, salt) is unique: seen before
        return True


class OneStatementAssociation(Association):
    class Meta:
        proxy = True
        app_label = "federation"

    @classmethod
    def store(cls, server_url, association) -> None:
        """Insert a fresh association (an OIDC nonce: 64 random characters); update one that exists."""
        try:
            with transaction.atomic():
                cls.objects.create(
                    server_url=server_url,
                    handle=association.handle,
                    secret=base64.encodebytes(association.secret).decode(),
                    issued=association.issued,
                    lifetime=association.lifetime,
                    assoc_type=association.assoc_type,
                )
        except IntegrityError:  # (server_url, handle) is unique: the stock read-then-write path
            super().store(server_url, association)


class GatehouseStorage(DjangoStorage):
    nonce = OneStatementNonce
    association = OneStatementAssociation
