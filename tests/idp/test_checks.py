"""`manage.py check --deploy` (idp/checks.py): unsafe production settings are errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from idp.checks import check_gatehouse_deploy

BASE_DIR = Path(__file__).resolve().parents[2]
# Fixed (test ids must match across pytest-xdist workers), and as random as secrets.token_urlsafe(50) makes.
STRONG_KEY = "q8Vd3LmZr1Xw7TcN0bKp5YfH2sJgE9uA4oWiR6nDlC-_xMhQyBtUvP3kS7aGe1zF"
PRODUCTION = {
    # The environment docs/deploy.md documents for a node behind the TLS proxy.
    "DJANGO_SETTINGS_MODULE": "idp.settings",
    "DEBUG": "0",
    "GATEHOUSE_URL": "https://id.example.com",
    "ALLOWED_HOSTS": "id.example.com,10.0.0.5",
    "SECRET_KEY": STRONG_KEY,
    # Checks never connect: the host need not exist.
    "DATABASE_URL": "postgres://gatehouse:password@db.invalid:5432/gatehouse",
    "REDIS_URL": "redis://redis.invalid:6379/0",
    "SOCIAL_AUTH_GOOGLE_OAUTH2_KEY": "google-client-id",
    "SOCIAL_AUTH_GOOGLE_OAUTH2_SECRET": "google-client-secret",
}


def _ids(settings) -> set[str]:
    return {problem.id for problem in check_gatehouse_deploy(None)}


@pytest.mark.parametrize("key", ["short", "x" * 60, "django-insecure-" + STRONG_KEY, "changeme-" + STRONG_KEY])
def test_it_refuses_a_weak_or_well_known_secret_key(settings, key):
    settings.SECRET_KEY = key
    assert "gatehouse.E003" in _ids(settings)


def test_it_accepts_a_long_random_secret_key(settings):
    settings.SECRET_KEY = STRONG_KEY
    assert "gatehouse.E003" not in _ids(settings)


def test_it_refuses_any_rfc9700_gate_turned_off(settings):
    assert "gatehouse.E004" not in _ids(settings)
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED": False}
    problems = [p for p in check_gatehouse_deploy(None) if p.id == "gatehouse.E004"]
    assert len(problems) == 1 and "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED" in problems[0].msg
    settings.OAUTH2_PROVIDER = {k: v for k, v in settings.OAUTH2_PROVIDER.items() if k != "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE"}
    assert any("TOKEN_STORAGE" in p.msg for p in check_gatehouse_deploy(None))  # missing means DOT's default: off


def _check_deploy(**overrides: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOCIAL_AUTH_", "GATEHOUSE_", "REDIS_URL", "DATABASE_URL"))}
    env.update(PRODUCTION, **overrides)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_it_is_clean_with_the_documented_production_environment():
    result = _check_deploy()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_it_fails_the_deploy_check_with_a_weak_secret_key():
    result = _check_deploy(SECRET_KEY="change-me-" + "a1b2c3d4e5" * 5)
    assert result.returncode != 0
    assert "gatehouse.E003" in result.stderr + result.stdout
