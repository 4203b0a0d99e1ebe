"""A single-page app (a public client: code + PKCE in the browser, no secret) and the small API it calls.

Django only serves the page and hosts the API; the sign-in itself happens in the browser (spa/static/spa/app.js).
Configured from the environment; `make examples` (examples/run.py) sets all of it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
(BASE_DIR / "var").mkdir(exist_ok=True)
# The API validates access tokens with gatehouse_rs, the helper in the repository's root. In your own
# project, copy the gatehouse_rs/ folder next to manage.py instead.
sys.path.append(str(BASE_DIR.parent.parent))

GATEHOUSE_URL = os.environ.get("GATEHOUSE_URL", "http://127.0.0.1:8000").rstrip("/")
GATEHOUSE_CLIENT_ID = os.environ.get("SPA_CLIENT_ID", "")
SPA_URL = os.environ.get("SPA_URL", "http://127.0.0.1:8002").rstrip("/")
# What the SPA asks access tokens for (RFC 8707 `resource`), so they name this API as their audience.
API_AUDIENCE = f"{SPA_URL}/api"
OTHER_APP_URL = os.environ.get("WEBAPP_URL", "")

DEBUG = os.environ.get("DEBUG", "1") == "1"
SECRET_KEY = os.environ.get("SPA_SECRET_KEY", "example-spa-development-key-not-secret")
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = ["django.contrib.staticfiles", "spa"]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "spa.urls"
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("SPA_DB", str(BASE_DIR / "var" / "spa.sqlite3")),
        # A logout token arrives while the person's own requests write their session: writers queue
        # (IMMEDIATE, with a timeout) instead of failing with "database is locked".
        "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20},
    }
}
STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"spa": {"handlers": ["console"], "level": "INFO"}},
}
