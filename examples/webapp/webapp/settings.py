"""An internal web app that lets Gatehouse sign its users in (OpenID Connect, Authlib's Django client).

Configured from the environment; `make examples` (examples/run.py) sets all of it.
"""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
(BASE_DIR / "var").mkdir(exist_ok=True)

# Where Gatehouse is (its issuer), and this app's registration there (`manage.py createclient`).
GATEHOUSE_URL = os.environ.get("GATEHOUSE_URL", "http://127.0.0.1:8000").rstrip("/")
GATEHOUSE_CLIENT_ID = os.environ.get("WEBAPP_CLIENT_ID", "")
GATEHOUSE_CLIENT_SECRET = os.environ.get("WEBAPP_CLIENT_SECRET", "")
# This app's own public URL: its redirect URI, post-logout URI and back-channel logout URI hang off it.
WEBAPP_URL = os.environ.get("WEBAPP_URL", "http://127.0.0.1:8001").rstrip("/")
# The other example, linked from the page to show single sign-on.
OTHER_APP_URL = os.environ.get("SPA_URL", "")

AUTHLIB_OAUTH_CLIENTS = {
    "gatehouse": {"client_id": GATEHOUSE_CLIENT_ID, "client_secret": GATEHOUSE_CLIENT_SECRET},
}

DEBUG = os.environ.get("DEBUG", "1") == "1"
SECRET_KEY = os.environ.get("WEBAPP_SECRET_KEY", "example-webapp-development-key-not-secret")
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "webapp",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "webapp.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
            ]
        },
    }
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("WEBAPP_DB", str(BASE_DIR / "var" / "webapp.sqlite3")),
        # A logout token arrives while the person's own requests write their session: writers queue
        # (IMMEDIATE, with a timeout) instead of failing with "database is locked".
        "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20},
    }
}
# Sessions in the database: a back-channel logout deletes them from there (webapp/views.py).
SESSION_ENGINE = "django.contrib.sessions.backends.db"
# Cookies ignore ports: on one host (127.0.0.1) Gatehouse's `sessionid` and ours would overwrite each other.
SESSION_COOKIE_NAME = "webapp_sessionid"
CSRF_COOKIE_NAME = "webapp_csrftoken"
# Lax: the redirect back from Gatehouse (a top-level GET) must carry the session holding `state`.
SESSION_COOKIE_SAMESITE = "Lax"
LOGIN_URL = "login"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"webapp": {"handlers": ["console"], "level": "INFO"}},
}
