"""social-auth's Django strategy, with the pipeline in one database transaction."""

from __future__ import annotations

from django.db import transaction
from social_django.strategy import DjangoStrategy


class GatehouseStrategy(DjangoStrategy):
    """Run the pipeline (user, identity, profile, audit) all-or-nothing.

    A step that fails after `create_user` would otherwise leave a user without an identity behind. Only
    the pipeline is inside the transaction: the upstream HTTP calls (token, userinfo, JWKS) happen
    before it, so a slow upstream never holds a database write lock.
    """

    def authenticate(self, *args, **kwargs):
        with transaction.atomic():
            return super().authenticate(*args, **kwargs)
