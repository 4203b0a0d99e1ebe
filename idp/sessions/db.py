"""SESSION_ENGINE "idp.sessions.db": sessions in the database (see idp/sessions/__init__.py)."""

from __future__ import annotations

from django.contrib.sessions.backends import db

from idp.sessions import LeanSessionMixin


class SessionStore(LeanSessionMixin, db.SessionStore):
    pass
