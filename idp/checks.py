"""`manage.py check --deploy` warnings for configurations that are unsafe for an identity provider."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register


@register(Tags.security, deploy=True)
def check_gatehouse_deploy(app_configs, **kwargs):
    problems = []
    if not settings.GATEHOUSE_URL.startswith("https://"):
        problems.append(Error("GATEHOUSE_URL must be https in production.", id="gatehouse.E001"))
    if settings.GATEHOUSE_DEV_LOGIN:
        problems.append(Error("GATEHOUSE_DEV_LOGIN lets anyone sign in as anyone.", id="gatehouse.E002"))
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        problems.append(Warning("SQLite serves one machine only; use PostgreSQL (DATABASE_URL).", id="gatehouse.W001"))
    return problems
