"""Gatehouse settings: one file, driven by environment variables (see INTERFACE.md)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from urllib.parse import urlparse

import dj_database_url
from csp import constants as csp_constants
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _
from dotenv import load_dotenv

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

# A `.env` file is optional; real environment variables always win over it.
load_dotenv(BASE_DIR / ".env", override=False)


def envbool(name: str, default: str) -> bool:
    """Read a boolean; anything but 1/0/true/false is a configuration error, not a silent False."""
    value = os.getenv(name, default).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ImproperlyConfigured(f"{name} must be 1 or 0 (true/false), not {value!r}")


def envint(name: str, default: int) -> int:
    value = os.getenv(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from None


def envsecret(name: str, default: str = "") -> str:
    """Read a secret from NAME, or from the file named by NAME_FILE (Docker/Kubernetes secrets)."""
    path = os.getenv(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={path} cannot be read: {exc}") from exc
    return os.getenv(name, default)


DEBUG = envbool("DEBUG", "0")
TESTING = envbool("GATEHOUSE_TESTING", "0")

GATEHOUSE_URL = os.getenv("GATEHOUSE_URL", "http://127.0.0.1:8000").rstrip("/")
_public = urlparse(GATEHOUSE_URL)
if _public.scheme not in ("http", "https") or not _public.hostname:
    raise ImproperlyConfigured(f"GATEHOUSE_URL must be an absolute http(s) URL, not {GATEHOUSE_URL!r}")
if _public.scheme == "http" and not DEBUG and _public.hostname not in ("127.0.0.1", "localhost", "::1"):
    raise ImproperlyConfigured("GATEHOUSE_URL must use https unless DEBUG=1 (an identity provider over http leaks tokens)")

SECRET_KEY = envsecret("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is required when DEBUG is off: set SECRET_KEY (or SECRET_KEY_FILE). "
            "For local development use DEBUG=1, which generates one under var/."
        )
    # Development only: a key generated once and kept, so sessions and signing keys survive restarts.
    VAR_DIR.mkdir(exist_ok=True)
    _key_file = VAR_DIR / "secret_key"
    if not _key_file.exists():
        _key_file.write_text(secrets.token_urlsafe(50))
        _key_file.chmod(0o600)
    SECRET_KEY = _key_file.read_text().strip()

ALLOWED_HOSTS = [h.strip() for h in os.getenv("ALLOWED_HOSTS", _public.hostname).split(",") if h.strip()]

INSTALLED_APPS = [
    # Our apps come before oauth2_provider so our templates (authorize.html) win.
    "idp",
    "clients",
    "federation",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "oauth2_provider",
    "social_django",
    "rest_framework",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "federation.middleware.UpstreamErrorMiddleware",
]

ROOT_URLCONF = "idp.urls"
WSGI_APPLICATION = "idp.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

# Database: SQLite under var/ by default ("check out and it works"), PostgreSQL in production.
VAR_DIR.mkdir(exist_ok=True)
DATABASES = {
    "default": dj_database_url.parse(
        os.getenv("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'gatehouse.sqlite3'}",
        # Tests close connections at once, so test databases can be dropped when the run ends.
        conn_max_age=0 if TESTING else envint("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers proceed during a write; the timeout rides out short write locks.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }

REDIS_URL = os.getenv("REDIS_URL", "")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    # Sessions live in the database and are cached in the shared Redis: any node reads them,
    # and deleting one (logout) is seen by every node at once.
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    # A per-process cache in front of sessions would let other workers keep a logged-out session alive.
    SESSION_ENGINE = "django.contrib.sessions.backends.db"

AUTH_USER_MODEL = "idp.User"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
    # Client secrets only (DESIGN.md): 256 random bits need no key stretching.
    "clients.hashers.ClientSecretHasher",
]
# `bench/` compares against django-oauth-toolkit's default (PBKDF2) with GATEHOUSE_CLIENT_SECRET_HASHER=default.
CLIENT_SECRET_HASHER = os.getenv("GATEHOUSE_CLIENT_SECRET_HASHER", "gatehouse_sha256")

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "account"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("ko", "한국어")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Cookies and transport. Over plain http (DEBUG) Secure cookies would never come back.
_secure = _public.scheme == "https"
SESSION_COOKIE_SECURE = _secure
CSRF_COOKIE_SECURE = _secure
SESSION_COOKIE_HTTPONLY = True
# Lax, not Strict: the upstream provider's redirect back to /complete/ is a top-level GET that
# must carry the session holding the upstream `state`.
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = envint("GATEHOUSE_SESSION_SECONDS", 14 * 24 * 3600)
CSRF_TRUSTED_ORIGINS = [GATEHOUSE_URL]
CSRF_FAILURE_VIEW = "idp.views.csrf_failure"
X_FRAME_OPTIONS = "DENY"
# No page of an identity provider may be framed (clickjacking the Allow button); scripts and styles
# come only from us. Client logos may live on the client's own https site.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp_constants.SELF],
        "img-src": [csp_constants.SELF, "https:", "data:", *(["http:"] if DEBUG else [])],
        "style-src": [csp_constants.SELF, csp_constants.NONCE],
        "script-src": [csp_constants.SELF],
        "object-src": [csp_constants.NONE],
        "base-uri": [csp_constants.NONE],
        "frame-ancestors": [csp_constants.NONE],
    }
}
# same-origin, not no-referrer: authorization URLs (codes, state) still never leave in a Referer, but
# browsers send `Origin: null` on every POST under no-referrer (Fetch §3.1), which CSRF checks refuse.
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
if os.getenv("GATEHOUSE_BEHIND_PROXY", "1" if _secure else "0") == "1":
    # Behind a TLS proxy (INTERFACE.md: production); the proxy must set this header.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
if _secure:
    SECURE_HSTS_SECONDS = envint("GATEHOUSE_HSTS_SECONDS", 31536000)
    SECURE_SSL_REDIRECT = envbool("GATEHOUSE_SSL_REDIRECT", "1")
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# ---------------------------------------------------------------------------------------------
# The OAuth 2.0 / OpenID Connect provider (django-oauth-toolkit)
# ---------------------------------------------------------------------------------------------
OAUTH2_PROVIDER_APPLICATION_MODEL = "clients.Application"

GATEHOUSE_SCOPES = {
    "openid": _("Sign you in with your Gatehouse account"),
    "profile": _("See your name, profile picture and language"),
    "email": _("See your email address"),
    "gatehouse:admin": _("Manage Gatehouse clients (service accounts only)"),
}
GATEHOUSE_DEFAULT_CLIENT_SCOPES = ["openid", "profile", "email"]
ACCESS_TOKEN_SECONDS = envint("GATEHOUSE_ACCESS_TOKEN_SECONDS", 3600)
ID_TOKEN_SECONDS = envint("GATEHOUSE_ID_TOKEN_SECONDS", 3600)

OAUTH2_PROVIDER = {
    "OIDC_ENABLED": True,
    # The issuer is exactly GATEHOUSE_URL, never the request's Host header.
    "OIDC_ISS_ENDPOINT": GATEHOUSE_URL,
    "OAUTH2_VALIDATOR_CLASS": "idp.oidc.GatehouseValidator",
    "APPLICATION_ADMIN_CLASS": "clients.admin.ApplicationAdmin",
    "SCOPES": GATEHOUSE_SCOPES,
    "DEFAULT_SCOPES": ["openid"],
    "ACCESS_TOKEN_EXPIRE_SECONDS": ACCESS_TOKEN_SECONDS,
    "ID_TOKEN_EXPIRE_SECONDS": ID_TOKEN_SECONDS,
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 60,
    "REFRESH_TOKEN_EXPIRE_SECONDS": envint("GATEHOUSE_REFRESH_TOKEN_SECONDS", 30 * 24 * 3600),
    "ROTATE_REFRESH_TOKEN": True,
    # RFC 9700 §4.14.2: a rotated refresh token presented again revokes the whole family.
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "REFRESH_TOKEN_GRACE_PERIOD_SECONDS": 0,
    "PKCE_REQUIRED": True,
    "CLIENT_SECRET_HASHER": CLIENT_SECRET_HASHER,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https", "http"],
    "ALLOW_URI_WILDCARDS": False,
    "REQUEST_APPROVAL_PROMPT": "force",
    "OIDC_RESPONSE_TYPES_SUPPORTED": ["code"],
    "OAUTH2_RESPONSE_TYPES_SUPPORTED": ["code"],
    "OAUTH2_GRANT_TYPES_SUPPORTED": ["authorization_code", "client_credentials", "refresh_token"],
    "OIDC_RP_INITIATED_LOGOUT_ENABLED": True,
    "OIDC_RP_INITIATED_LOGOUT_ALWAYS_PROMPT": True,
    "OIDC_RP_INITIATED_LOGOUT_STRICT_REDIRECT_URIS": True,
    "OIDC_RP_INITIATED_LOGOUT_DELETE_TOKENS": True,
    "OIDC_JWKS_MAX_AGE_SECONDS": 300,
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_SCHEME": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_MATCHING": True,
    "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED": True,
}

# ---------------------------------------------------------------------------------------------
# Upstream identity providers (python-social-auth; its own setting names, INTERFACE.md)
# ---------------------------------------------------------------------------------------------
GATEHOUSE_DEV_LOGIN = envbool("GATEHOUSE_DEV_LOGIN", "0")
if GATEHOUSE_DEV_LOGIN and not DEBUG:
    raise ImproperlyConfigured(
        "GATEHOUSE_DEV_LOGIN=1 lets anyone sign in as anyone; it is refused unless DEBUG=1."
    )

SOCIAL_AUTH_GOOGLE_OAUTH2_KEY = envsecret("SOCIAL_AUTH_GOOGLE_OAUTH2_KEY")
SOCIAL_AUTH_GOOGLE_OAUTH2_SECRET = envsecret("SOCIAL_AUTH_GOOGLE_OAUTH2_SECRET")
# Key Google identities on `sub`: an email address can change hands, `sub` never does.
SOCIAL_AUTH_GOOGLE_OAUTH2_USE_UNIQUE_USER_ID = True
SOCIAL_AUTH_KAKAO_KEY = envsecret("SOCIAL_AUTH_KAKAO_KEY")
SOCIAL_AUTH_KAKAO_SECRET = envsecret("SOCIAL_AUTH_KAKAO_SECRET")
SOCIAL_AUTH_FACEBOOK_KEY = envsecret("SOCIAL_AUTH_FACEBOOK_KEY")
SOCIAL_AUTH_FACEBOOK_SECRET = envsecret("SOCIAL_AUTH_FACEBOOK_SECRET")
SOCIAL_AUTH_FACEBOOK_SCOPE = ["email"]
SOCIAL_AUTH_FACEBOOK_PROFILE_EXTRA_PARAMS = {"fields": "id,name,email,first_name,last_name,picture"}
SOCIAL_AUTH_OIDC_OIDC_ENDPOINT = os.getenv("SOCIAL_AUTH_OIDC_OIDC_ENDPOINT", "")
SOCIAL_AUTH_OIDC_KEY = envsecret("SOCIAL_AUTH_OIDC_KEY")
SOCIAL_AUTH_OIDC_SECRET = envsecret("SOCIAL_AUTH_OIDC_SECRET")
GATEHOUSE_OIDC_UPSTREAM_NAME = os.getenv("GATEHOUSE_OIDC_UPSTREAM_NAME", "Single sign-on")

# An upstream is offered if and only if its KEY is set; an unconfigured backend is not even loadable.
AUTHENTICATION_BACKENDS = [
    backend
    for backend, enabled in (
        ("federation.backends.GoogleOAuth2", SOCIAL_AUTH_GOOGLE_OAUTH2_KEY),
        ("federation.backends.KakaoOAuth2", SOCIAL_AUTH_KAKAO_KEY),
        ("federation.backends.FacebookOAuth2", SOCIAL_AUTH_FACEBOOK_KEY),
        ("federation.backends.OpenIdConnectAuth", SOCIAL_AUTH_OIDC_KEY),
        ("federation.backends.DevelopmentAuth", GATEHOUSE_DEV_LOGIN),
    )
    if enabled
] + ["django.contrib.auth.backends.ModelBackend"]  # password sign-in for /admin/ only
# Facebook does not tell whether an email is verified; linking on it is opt-in.
GATEHOUSE_TRUST_FACEBOOK_EMAIL = envbool("GATEHOUSE_TRUST_FACEBOOK_EMAIL", "0")

SOCIAL_AUTH_URL_NAMESPACE = "social"
SOCIAL_AUTH_USER_MODEL = AUTH_USER_MODEL
SOCIAL_AUTH_LOGIN_ERROR_URL = "/login/"
SOCIAL_AUTH_LOGIN_REDIRECT_URL = "/account/"
# Replayed callbacks and `error=access_denied` become readable pages, never a 500 (GOTCHAS.md).
SOCIAL_AUTH_RAISE_EXCEPTIONS = False
SOCIAL_AUTH_SANITIZE_REDIRECTS = True
SOCIAL_AUTH_ALLOWED_REDIRECT_HOSTS = [_public.hostname]
SOCIAL_AUTH_REDIRECT_IS_HTTPS = _secure
SOCIAL_AUTH_FIELDS_STORED_IN_SESSION: list[str] = []
SOCIAL_AUTH_PIPELINE = (
    "social_core.pipeline.social_auth.social_details",
    "social_core.pipeline.social_auth.social_uid",
    "social_core.pipeline.social_auth.auth_allowed",
    "social_core.pipeline.social_auth.social_user",
    "federation.pipeline.normalize_profile",
    "federation.pipeline.associate_by_verified_email",
    "federation.pipeline.create_user",
    "social_core.pipeline.social_auth.associate_user",
    # No load_extra_data: it would keep the upstream access token in cleartext, and we need none.
    "federation.pipeline.update_user",
    "federation.pipeline.audit_login",
)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
}

GATEHOUSE_RATE_LIMITS = os.getenv("GATEHOUSE_RATE_LIMITS", "on") != "off"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.getenv("GATEHOUSE_LOG_LEVEL", "INFO")},
    "loggers": {
        # These log authorization codes and token-bearing URLs at DEBUG (GOTCHAS.md): never below INFO.
        "oauth2_provider": {"level": "INFO"},
        "oauthlib": {"level": "INFO"},
        "urllib3": {"level": "INFO"},
        "django.db.backends": {"level": "INFO"},
    },
}
