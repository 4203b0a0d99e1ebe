"""SESSION_ENGINE "idp.sessions.cached_db": sessions in the database, read through the shared cache."""

from __future__ import annotations

from django.contrib.sessions.backends import cached_db

from idp.sessions import LeanSessionMixin


class SessionStore(LeanSessionMixin, cached_db.SessionStore):
    def delete(self, session_key: str | None = None) -> None:
        key = session_key if session_key is not None else self.session_key
        super().delete(session_key)
        if key is not None:
            # Every node reads sessions through the cache first: a deleted session must leave it too.
            self._cache.delete(self.cache_key_prefix + key)
