"""Start-up refuses unsafe configuration with a clear message (run in a fresh interpreter)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _load_settings(tmp_path, **env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SOCIAL_AUTH_", "GATEHOUSE_", "DEBUG", "SECRET_KEY", "DATABASE_URL"))}
    clean.update({"DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3", **env})
    return subprocess.run(
        [sys.executable, "-c", "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='idp.settings'; django.setup(); "
         "from django.conf import settings; print(settings.AUTHENTICATION_BACKENDS)"],
        cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_it_refuses_to_start_without_secret_key_when_debug_is_off(tmp_path):
    result = _load_settings(tmp_path)
    assert result.returncode != 0
    assert "SECRET_KEY is required when DEBUG is off" in result.stderr


def test_it_refuses_the_development_upstream_when_debug_is_off(tmp_path):
    result = _load_settings(tmp_path, SECRET_KEY="s" * 50, GATEHOUSE_DEV_LOGIN="1")
    assert result.returncode != 0
    assert "GATEHOUSE_DEV_LOGIN=1" in result.stderr and "DEBUG=1" in result.stderr


def test_it_reads_secrets_from_files(tmp_path):
    secret_file = tmp_path / "kakao"
    secret_file.write_text("from-a-file\n")
    result = _load_settings(
        tmp_path, SECRET_KEY="s" * 50, SOCIAL_AUTH_KAKAO_KEY="k", SOCIAL_AUTH_KAKAO_SECRET_FILE=str(secret_file)
    )
    assert result.returncode == 0, result.stderr
    assert "federation.backends.KakaoOAuth2" in result.stdout


def test_it_offers_only_upstreams_whose_key_is_set(tmp_path):
    result = _load_settings(tmp_path, SECRET_KEY="s" * 50, SOCIAL_AUTH_GOOGLE_OAUTH2_KEY="g")
    assert result.returncode == 0, result.stderr
    assert "GoogleOAuth2" in result.stdout
    assert "Kakao" not in result.stdout and "Facebook" not in result.stdout and "DevelopmentAuth" not in result.stdout


def test_it_rejects_a_malformed_boolean(tmp_path):
    result = _load_settings(tmp_path, DEBUG="maybe")
    assert result.returncode != 0 and "DEBUG must be 1 or 0" in result.stderr


def test_it_says_why_manage_py_cannot_start_in_a_bare_environment(tmp_path):
    # Django's command runner swallows a settings error and fails later with "Models aren't loaded yet";
    # manage.py must name the real cause even with no environment at all.
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT, env={"PATH": os.environ["PATH"], "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3"},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode != 0
    assert "Gatehouse cannot start: SECRET_KEY is required when DEBUG is off" in result.stderr
    assert "Models aren't loaded" not in result.stderr
