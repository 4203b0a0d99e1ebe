"""Django's database sessions, with the statements a sign-in does not need left out.

Same table, same data, same semantics; only fewer round trips. Per sign-in Django spends six statements on
the session (SELECT to check a new key is free, INSERT; on login another check, INSERT, SELECT and DELETE
of the old row, then an UPDATE of the new row with the same data); these stores spend two: the INSERT,
and on login one UPDATE that moves the row to its new key.
Used through SESSION_ENGINE = "idp.sessions.db" (or "idp.sessions.cached_db" with Redis).
"""

from __future__ import annotations

from django.contrib.sessions.backends.base import VALID_KEY_CHARS, CreateError
from django.db import IntegrityError, transaction
from django.utils.crypto import get_random_string


class LeanSessionMixin:
    """Mixed in before Django's db (or cached_db) SessionStore."""

    _insert_on_save = False
    _renamed_from: str | None = None

    def _validate_session_key(self, key: str | None) -> bool:
        # Only keys we could have made: a cookie with any other character (a NUL, which PostgreSQL refuses
        # in text with a 500) names no session, and the request goes on without one.
        return bool(super()._validate_session_key(key)) and all(char in VALID_KEY_CHARS for char in key)

    def _get_new_session_key(self) -> str:
        # Django asks the database first whether the key is taken. 32 characters of 36 are 165 random
        # bits, and a collision would anyway make the INSERT (must_create) fail and create() pick again.
        return get_random_string(32, VALID_KEY_CHARS)

    def cycle_key(self) -> None:
        """A new key for the same data (django.contrib.auth.login does this against session fixation).

        Django INSERTs the row under its new key at once, DELETEs the old row, and the session middleware
        UPDATEs the new row with the same data at the end of the request. Here the key changes now
        (session_key reads the new one) and the final save renames the old row to the new key, data and
        all, in one UPDATE: the old key stops existing in the same statement that saves the new session.
        """
        data = self._session
        old_key = self.session_key
        self._session_key = self._get_new_session_key()
        self._session_cache = data
        self._insert_on_save = True
        self._renamed_from = old_key
        self.modified = True
        if old_key:
            self._uncache(old_key)

    def save(self, must_create: bool = False) -> None:
        if self._insert_on_save and self.session_key is not None:
            self._insert_on_save = False
            old_key, self._renamed_from = self._renamed_from, None
            if old_key and self._rename(old_key):
                return None
            try:
                return super().save(must_create=True)
            except CreateError:
                # The new key was taken after all: create() finds a free one.
                self._session_key = None
                return self.create()
        return super().save(must_create=must_create)

    def _rename(self, old_key: str) -> bool:
        """Move the row of `old_key` to the new key with the current data; False if there was no row."""
        row = self.create_model_instance(self._get_session(no_load=False))
        try:
            with transaction.atomic(using=self.model.objects.db):
                renamed = self.model.objects.filter(session_key=old_key).update(
                    session_key=row.session_key, session_data=row.session_data, expire_date=row.expire_date
                )
        except IntegrityError:
            return False  # the new key is taken: save() inserts under a fresh one (the old row stays unauthenticated)
        return bool(renamed)

    def _uncache(self, session_key: str) -> None:
        """Forget a session key in the session cache, if the store has one."""

    def delete(self, session_key: str | None = None) -> None:
        # One DELETE; Django reads the row first.
        key = session_key if session_key is not None else self.session_key
        if key is None:
            return
        self.model.objects.filter(session_key=key).delete()
        if session_key is None or session_key == self.session_key:
            self._insert_on_save = False
            self._renamed_from = None
