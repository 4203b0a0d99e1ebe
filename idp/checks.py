"""`manage.py check --deploy` warnings for configurations that are unsafe for an identity provider."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from oauth2_provider.settings import DEFAULTS as DOT_DEFAULTS

# Values seen in documentation, examples and our own test settings; never a production key.
KNOWN_SECRET_KEYS = ("changeme", "change-me", "secret", "django-insecure", "test-secret-key", "not-for-production",
                     "multinode-secret-key", "your-secret-key", "xxxxxxxx")


def _weak_secret_key(key: str) -> bool:
    """As Django's security.W009 (length, variety, its insecure prefix), plus keys copied from somewhere."""
    lowered = key.lower()
    return len(key) < 50 or len(set(key)) < 5 or any(known in lowered for known in KNOWN_SECRET_KEYS)


@register(Tags.security, deploy=True)
def check_gatehouse_deploy(app_configs, **kwargs):
    problems = []
    if not settings.GATEHOUSE_URL.startswith("https://"):
        problems.append(Error("GATEHOUSE_URL must be https in production.", id="gatehouse.E001"))
    if settings.GATEHOUSE_DEV_LOGIN:
        problems.append(Error("GATEHOUSE_DEV_LOGIN lets anyone sign in as anyone.", id="gatehouse.E002"))
    if _weak_secret_key(settings.SECRET_KEY):
        problems.append(Error(
            "SECRET_KEY is short, repetitive or a well-known value: it protects sessions and encrypts the "
            "signing keys. Use at least 50 random characters (python -c 'import secrets; print(secrets.token_urlsafe(50))').",
            id="gatehouse.E003",
        ))  # fmt: skip
    for gate in sorted(name for name in DOT_DEFAULTS if name.startswith("COMPLIANT_BCP_RFC9700_")):
        if not settings.OAUTH2_PROVIDER.get(gate):
            problems.append(Error(
                f"OAUTH2_PROVIDER['{gate}'] is off: Gatehouse follows every RFC 9700 recommendation.",
                id="gatehouse.E004",
            ))  # fmt: skip
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        problems.append(Warning("SQLite serves one machine only; use PostgreSQL (DATABASE_URL).", id="gatehouse.W001"))
    return problems
