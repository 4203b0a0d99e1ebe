"""SESSION_ENGINE "idp.sessions.cached_db": sessions in the database, read through the shared cache."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.sessions.backends import cached_db

from idp.sessions import LeanSessionMixin

logger = logging.getLogger(__name__)


class _FailSoftCache:
    """The session cache, where a Redis outage costs only the cache: the database still holds every session.

    Django's cached_db guards only its first cache read; the write that follows it, `exists` and deletes
    would turn a Redis outage into a 500 on every page.
    """

    def __init__(self, cache: Any) -> None:
        self._cache = cache

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._cache, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return attribute(*args, **kwargs)
            except Exception:  # noqa: BLE001 - any cache failure (Redis down, timeout) falls back to the database
                logger.warning("session cache unavailable (%s): using the database alone", name)
                return None

        return call

    def __contains__(self, key: str) -> bool:
        try:
            return key in self._cache
        except Exception:  # noqa: BLE001
            logger.warning("session cache unavailable (exists): using the database alone")
            return False


class SessionStore(LeanSessionMixin, cached_db.SessionStore):
    def __init__(self, session_key: str | None = None) -> None:
        super().__init__(session_key)
        self._cache = _FailSoftCache(self._cache)

    def delete(self, session_key: str | None = None) -> None:
        key = session_key if session_key is not None else self.session_key
        super().delete(session_key)
        if key is not None:
            self._uncache(key)

    def _uncache(self, session_key: str) -> None:
        # Every node reads sessions through the cache first: a deleted or renamed session must leave it too.
        self._cache.delete(self.cache_key_prefix + session_key)
