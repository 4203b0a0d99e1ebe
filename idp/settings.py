"""Gatehouse settings: one file, driven by environment variables (see INTERFACE.md)."""

from __future__ import annotations

import ipaddress
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
    "drf_spectacular",
    # Swagger UI's files served by us: no CDN (nodes may have no internet; the CSP allows only 'self').
    "drf_spectacular_sidecar",
]

MIDDLEWARE = [
    # First, so every log line and every response of a request, redirects included, carries its id.
    "idp.middleware.RequestIdMiddleware",
    "idp.middleware.MetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Malformed query strings and bodies become 400s here, before anything parses them (idp/badinput.py).
    "idp.badinput.BadInputMiddleware",
    # 429 before any work is done; after metrics, the access log and
    # the security headers, so refusals are counted and carry HSTS/nosniff (idp/ratelimit.py).
    "idp.ratelimit.RateLimitMiddleware",
    # Token, introspection, userinfo, JWKS, discovery: straight to the view from here (idp/fastpath.py).
    "idp.fastpath.ApiFastPathMiddleware",
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

SILENCED_SYSTEM_CHECKS = [
    # DOT's RFC 9700 check refuses "http" among ALLOWED_REDIRECT_URI_SCHEMES outright, but RFC 8252 §7.3 and
    # RFC 9700 §2.1 allow it for native apps' loopback redirects, and only there: client_register
    # (clients/services.py) refuses plain http to any other host. idp/checks.py keeps every gate on.
    "oauth2_provider.E003",
    # HSTS preload is decided for a whole registrable domain by its owner (hstspreload.org);
    # GATEHOUSE_HSTS_PRELOAD=1 sends it once they have.
    "security.W021",
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
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            # A Redis that stops answering must cost a request half a second, not a hung worker: sessions
            # fall back to the database (idp/sessions) and rate limits fail open (idp/ratelimit.py).
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    # Sessions live in the database and are cached in the shared Redis: any node reads them,
    # and deleting one (logout) is seen by every node at once.
    SESSION_ENGINE = "idp.sessions.cached_db"  # Django's cached_db, fewer statements (idp/sessions)
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    # A per-process cache in front of sessions would let other workers keep a logged-out session alive.
    SESSION_ENGINE = "idp.sessions.db"  # Django's db sessions, fewer statements (idp/sessions)

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
    # Covers only subdomains of GATEHOUSE_URL's host (id.example.com's, not example.com's).
    SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("GATEHOUSE_HSTS_INCLUDE_SUBDOMAINS", "1")
    SECURE_HSTS_PRELOAD = envbool("GATEHOUSE_HSTS_PRELOAD", "0")
    SECURE_SSL_REDIRECT = envbool("GATEHOUSE_SSL_REDIRECT", "1")
    # Load balancers and Prometheus reach each node directly over the internal network.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]

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

if DEBUG:
    # oauthlib answers CORS at the token endpoint (a single-page app exchanging its code) only for https
    # origins; in development such apps run on http://127.0.0.1 or localhost.
    os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")

# What discovery and RFC 8414 metadata advertise in grant_types_supported: the grants the token endpoint
# serves (OAUTH2_SERVER_CLASS below adds RFC 8693 token exchange; implicit and password are refused).
GATEHOUSE_GRANT_TYPES = (
    "authorization_code",
    "refresh_token",
    "client_credentials",
    "urn:ietf:params:oauth:grant-type:token-exchange",
)

# How long audit events are kept; older ones are deleted by `manage.py cleartokens`. 0 keeps them for ever.
GATEHOUSE_AUDIT_RETENTION_DAYS = envint("GATEHOUSE_AUDIT_RETENTION_DAYS", 0)
if GATEHOUSE_AUDIT_RETENTION_DAYS < 0:
    raise ImproperlyConfigured("GATEHOUSE_AUDIT_RETENTION_DAYS must be 0 (keep for ever) or a number of days")

OAUTH2_PROVIDER = {
    "OIDC_ENABLED": True,
    # The issuer is exactly GATEHOUSE_URL, never the request's Host header.
    "OIDC_ISS_ENDPOINT": GATEHOUSE_URL,
    # Gatehouse's validator plus the RFC 8693 token exchange for native apps (federation/token_exchange.py).
    "OAUTH2_VALIDATOR_CLASS": "federation.token_exchange.TokenExchangeValidator",
    "OAUTH2_SERVER_CLASS": "federation.token_exchange.Server",
    # Hands the browser session's `sid` to the validator when a code is issued (idp/sso.py).
    "OAUTH2_BACKEND_CLASS": "idp.sso.OAuthLibCore",
    "APPLICATION_ADMIN_CLASS": "clients.admin.ApplicationAdmin",
    # Token and code values are never displayed or searchable in the admin (clients/admin.py).
    "ACCESS_TOKEN_ADMIN_CLASS": "clients.admin.AccessTokenAdmin",
    "REFRESH_TOKEN_ADMIN_CLASS": "clients.admin.RefreshTokenAdmin",
    "GRANT_ADMIN_CLASS": "clients.admin.GrantAdmin",
    "ID_TOKEN_ADMIN_CLASS": "clients.admin.IDTokenAdmin",
    "SCOPES": GATEHOUSE_SCOPES,
    "DEFAULT_SCOPES": ["openid"],
    "ACCESS_TOKEN_EXPIRE_SECONDS": ACCESS_TOKEN_SECONDS,
    # RFC 9068 JWT access tokens for the clients that chose them, random strings for the rest (idp/tokens.py).
    "ACCESS_TOKEN_GENERATOR": "idp.tokens.access_token_generator",
    # Without this oauthlib would make refresh tokens with the access token generator too; they stay opaque.
    "REFRESH_TOKEN_GENERATOR": "idp.tokens.opaque_token_generator",
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
    # Off: DOT would delete every token the person holds, on every device. /o/logout/ (idp/logout.py)
    # revokes the refresh tokens issued in the session being ended, and notifies its clients.
    "OIDC_RP_INITIATED_LOGOUT_DELETE_TOKENS": False,
    "OIDC_JWKS_MAX_AGE_SECONDS": 300,
    # `cleartokens` deletes in batches, each its own short transaction (DOT holds no lock across them);
    # the pause lets replicas and other writers keep up (bench/RESULTS.md: one million tokens).
    "CLEAR_EXPIRED_TOKENS_BATCH_SIZE": envint("GATEHOUSE_CLEARTOKENS_BATCH_SIZE", 10000),
    "CLEAR_EXPIRED_TOKENS_BATCH_INTERVAL": float(os.getenv("GATEHOUSE_CLEARTOKENS_BATCH_INTERVAL", "0.05")),
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
# Native apps' Google client ids (Android, iOS) whose tokens may be exchanged, besides the web client's.
GATEHOUSE_GOOGLE_NATIVE_CLIENT_IDS = [
    client_id.strip() for client_id in os.getenv("GATEHOUSE_GOOGLE_NATIVE_CLIENT_IDS", "").split(",") if client_id.strip()
]
SOCIAL_AUTH_KAKAO_KEY = envsecret("SOCIAL_AUTH_KAKAO_KEY")
SOCIAL_AUTH_KAKAO_SECRET = envsecret("SOCIAL_AUTH_KAKAO_SECRET")
# Kakao's numeric app id (not the REST API key): token exchange checks Kakao tokens were issued to it.
GATEHOUSE_KAKAO_APP_ID = os.getenv("GATEHOUSE_KAKAO_APP_ID", "").strip()
SOCIAL_AUTH_FACEBOOK_KEY = envsecret("SOCIAL_AUTH_FACEBOOK_KEY")
SOCIAL_AUTH_FACEBOOK_SECRET = envsecret("SOCIAL_AUTH_FACEBOOK_SECRET")
SOCIAL_AUTH_FACEBOOK_SCOPE = ["email"]
SOCIAL_AUTH_FACEBOOK_PROFILE_EXTRA_PARAMS = {"fields": "id,name,email,first_name,last_name,picture"}
SOCIAL_AUTH_OIDC_OIDC_ENDPOINT = os.getenv("SOCIAL_AUTH_OIDC_OIDC_ENDPOINT", "")
SOCIAL_AUTH_OIDC_KEY = envsecret("SOCIAL_AUTH_OIDC_KEY")
SOCIAL_AUTH_OIDC_SECRET = envsecret("SOCIAL_AUTH_OIDC_SECRET")
# RFC 9700 §2.1.1: PKCE upstream too; an OIDC provider that does not know it ignores the parameters.
SOCIAL_AUTH_OIDC_USE_PKCE = envbool("SOCIAL_AUTH_OIDC_USE_PKCE", "1")
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
# /account/'s "Connect" forms say which upstream they connect; every other start clears it (federation/views.py).
SOCIAL_AUTH_FIELDS_STORED_IN_SESSION = ["connect_backend"]
# The pipeline runs in one database transaction: never a user without its identity.
SOCIAL_AUTH_STRATEGY = "federation.strategy.GatehouseStrategy"
# One statement per write or spend of a one-time value (state, OIDC nonce) instead of two (federation/storage.py).
SOCIAL_AUTH_STORAGE = "federation.storage.GatehouseStorage"
# Every call to an upstream (token, userinfo, JWKS, discovery, token checks) gives up after this long
# and the person gets the "not answering" page rather than a hung request.
SOCIAL_AUTH_REQUESTS_TIMEOUT = envint("GATEHOUSE_UPSTREAM_TIMEOUT_SECONDS", 5)
SOCIAL_AUTH_PIPELINE = (
    "federation.pipeline.start",
    "social_core.pipeline.social_auth.social_details",
    "social_core.pipeline.social_auth.social_uid",
    "federation.pipeline.match_token_owner",
    "social_core.pipeline.social_auth.auth_allowed",
    "social_core.pipeline.social_auth.social_user",
    "federation.pipeline.lock_identity",  # concurrent first sign-ins of one identity queue here
    "federation.pipeline.refuse_disabled_user",
    "federation.pipeline.normalize_profile",
    "federation.pipeline.associate_by_verified_email",
    "federation.pipeline.create_user",
    "social_core.pipeline.social_auth.associate_user",
    # No load_extra_data: it would keep the upstream access and refresh tokens in cleartext, and we
    # need neither. record_identity keeps only what /account/ shows (email, last used).
    "federation.pipeline.update_user",
    "federation.pipeline.record_identity",
    "federation.pipeline.audit_login",
)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
# The OpenAPI 3 schema of /api/ and its Swagger UI (clients/urls.py); both public, as the API is not.
SPECTACULAR_SETTINGS = {
    "TITLE": "Gatehouse admin API",
    "DESCRIPTION": (
        "Register and manage client apps. Authenticate with an access token carrying the scope "
        "`gatehouse:admin` (client credentials of an admin service client), or from a staff user's "
        "browser session with a CSRF token."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "OAUTH2_FLOWS": ["clientCredentials"],
    "OAUTH2_TOKEN_URL": f"{GATEHOUSE_URL}/o/token/",
    "OAUTH2_SCOPES": {"gatehouse:admin": "Manage Gatehouse clients"},
}

GATEHOUSE_RATE_LIMITS = os.getenv("GATEHOUSE_RATE_LIMITS", "on") != "off"
# Requests per window (idp/ratelimit.py), counted in the cache (Redis, shared by all nodes, with REDIS_URL).
# 0 disables one limit. A busy server-side client behind a single address may need a higher OAUTH_PER_IP.
GATEHOUSE_RATE_LIMIT = {
    "window_seconds": envint("GATEHOUSE_RATE_LIMIT_WINDOW_SECONDS", 60),
    # /o/token/, /o/introspect/, /o/revoke_token/
    "oauth": {
        "per_ip": envint("GATEHOUSE_RATE_LIMIT_OAUTH_PER_IP", 150),
        "per_client": envint("GATEHOUSE_RATE_LIMIT_OAUTH_PER_CLIENT", 600),
    },
    # /api/: per address and per credential (client id or bearer token)
    "api": {
        "per_ip": envint("GATEHOUSE_RATE_LIMIT_API_PER_IP", 120),
        "per_client": envint("GATEHOUSE_RATE_LIMIT_API_PER_CLIENT", 120),
    },
    # /login/<backend>/ and /complete/<backend>/: sign-in pages, per address
    "pages": {"per_ip": envint("GATEHOUSE_RATE_LIMIT_PAGES_PER_IP", 60)},
}
if GATEHOUSE_RATE_LIMIT["window_seconds"] < 1:
    raise ImproperlyConfigured("GATEHOUSE_RATE_LIMIT_WINDOW_SECONDS must be at least 1")
# The proxies whose X-Forwarded-For names the real client, for per-address limits: gunicorn's own variable
# (gunicorn.conf.py, docs/deploy.md), comma-separated addresses or CIDRs; "*" trusts any sender.
try:
    GATEHOUSE_TRUSTED_PROXIES = [
        ipaddress.ip_network("0.0.0.0/0" if cidr.strip() == "*" else cidr.strip(), strict=False)
        for cidr in os.getenv("FORWARDED_ALLOW_IPS", "127.0.0.1").split(",")
        if cidr.strip()
    ] + ([ipaddress.ip_network("::/0")] if os.getenv("FORWARDED_ALLOW_IPS", "").strip() == "*" else [])
except ValueError as exc:
    raise ImproperlyConfigured(f"FORWARDED_ALLOW_IPS must be comma-separated addresses or CIDRs: {exc}") from None

# Operations (docs/deploy.md): /metrics for a scraper with the token or on the allow-list (idp/metrics.py).
GATEHOUSE_METRICS_TOKEN = envsecret("GATEHOUSE_METRICS_TOKEN")
try:
    GATEHOUSE_METRICS_ALLOW = [
        ipaddress.ip_network(cidr.strip(), strict=False)
        for cidr in os.getenv("GATEHOUSE_METRICS_ALLOW", "127.0.0.0/8,::1/128").split(",")
        if cidr.strip()
    ]
except ValueError as exc:
    raise ImproperlyConfigured(f"GATEHOUSE_METRICS_ALLOW must be comma-separated CIDRs: {exc}") from None
GATEHOUSE_LOG_FORMAT = os.getenv("GATEHOUSE_LOG_FORMAT", "plain" if DEBUG else "json").strip().lower()
if GATEHOUSE_LOG_FORMAT not in ("json", "plain"):
    raise ImproperlyConfigured(f"GATEHOUSE_LOG_FORMAT must be json or plain, not {GATEHOUSE_LOG_FORMAT!r}")
# How often each process re-reads the signing keys (idp/keys.py); INTERFACE.md promises a rotation
# reaches every node within 60 s, so it may be lowered, never raised.
GATEHOUSE_KEYSET_TTL_SECONDS = envint("GATEHOUSE_KEYSET_TTL_SECONDS", 60)
if not 1 <= GATEHOUSE_KEYSET_TTL_SECONDS <= 60:
    raise ImproperlyConfigured("GATEHOUSE_KEYSET_TTL_SECONDS must be between 1 and 60")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Each line carries the request id; tokens, codes and protocol query strings are masked (idp/logging.py).
    "formatters": {
        "plain": {
            "()": "idp.logging.PlainFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
        },
        "json": {"()": "idp.logging.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": GATEHOUSE_LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": os.getenv("GATEHOUSE_LOG_LEVEL", "INFO")},
    "loggers": {
        # These log authorization codes and token-bearing URLs at DEBUG (GOTCHAS.md): never below INFO.
        "oauth2_provider": {"level": "INFO"},
        "oauthlib": {"level": "INFO"},
        "urllib3": {"level": "INFO"},
        "django.db.backends": {"level": "INFO"},
    },
}
