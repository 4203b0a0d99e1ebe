"""Signing keys: shared by every process through the database, rotated without breaking issued tokens."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone
from jwcrypto import jwk
from jwcrypto.common import JWKeyNotFound

from idp import keys
from idp.models import SigningKey
from idp.oidc import jwt_header
from tests.conftest import approve_consent, authorize_url, dev_sign_in, exchange_code, query_of, verify_id_token

BASE_DIR = Path(__file__).resolve().parents[2]
SUBPROCESS_SECRET_KEY = "subprocess-secret-key-" + "k" * 40

# One "node": sets Django up, says it is ready, waits for the go (so both start their first request
# together, like workers booting at once), then serves the JWKS and names the key it signs with.
NODE = """
import json, sys
import django
django.setup()
from django.test import Client
from idp import keys
print("ready", flush=True)
sys.stdin.readline()
response = Client(HTTP_HOST="127.0.0.1").get("/o/.well-known/jwks.json")
answer = {"status": response.status_code, "jwks": response.json(), "signs_with": keys.active_key().thumbprint()}
print(json.dumps(answer))
"""


def _node_env(database: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOCIAL_AUTH_", "GATEHOUSE_", "REDIS_URL"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "idp.settings",
            "DEBUG": "1",
            "SECRET_KEY": SUBPROCESS_SECRET_KEY,
            "DATABASE_URL": f"sqlite:///{database}",
            "GATEHOUSE_URL": "http://127.0.0.1:8000",
            "ALLOWED_HOSTS": "127.0.0.1",
        }
    )
    return env


def _id_token(client, app) -> str:
    auth = authorize_url(app)
    location = approve_consent(client, auth.url)
    token = exchange_code(client, app, query_of(location)["code"], auth.verifier)
    assert token.status_code == 200, token.content
    return token.json()["id_token"]


def _kid(token: str) -> str:
    return jwt_header(token)["kid"]


def _published_kids(client) -> set[str]:
    response = client.get("/o/.well-known/jwks.json")
    assert response.status_code == 200
    return {key["kid"] for key in response.json()["keys"]}


@pytest.fixture
def signed_in(client, db):
    done = dev_sign_in(client, "carol@example.com", "Carol")
    assert done.status_code == 302
    return client


def test_it_serves_one_jwks_from_two_processes_sharing_a_database(tmp_path):
    database = tmp_path / "gatehouse.sqlite3"
    env = _node_env(database)
    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert migrate.returncode == 0, migrate.stderr

    nodes = [
        subprocess.Popen(
            [sys.executable, "-c", NODE],
            cwd=BASE_DIR, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        for _ in range(2)
    ]
    try:
        for node in nodes:
            assert node.stdout.readline().strip() == "ready", node.stderr.read()
        for node in nodes:
            node.stdin.write("go\n")
            node.stdin.flush()
        outputs = [node.communicate(timeout=30) for node in nodes]
    finally:
        for node in nodes:
            if node.poll() is None:
                node.kill()
                node.wait()
    answers = []
    for node, (stdout, stderr) in zip(nodes, outputs):
        assert node.returncode == 0, stderr
        answers.append(json.loads(stdout.strip().splitlines()[-1]))

    first, second = answers
    assert first["status"] == second["status"] == 200
    kids = [sorted(key["kid"] for key in answer["jwks"]["keys"]) for answer in answers]
    assert kids[0] == kids[1] and len(kids[0]) == 1, kids
    assert first["signs_with"] == second["signs_with"] == kids[0][0]
    assert first["jwks"] == second["jwks"]
    assert all("d" not in key and "p" not in key for key in first["jwks"]["keys"])  # public halves only

    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT kid, private_key_encrypted FROM idp_signingkey").fetchall()
    assert [kid for kid, _ in rows] == kids[0]
    stored = rows[0][1]
    assert "PRIVATE KEY" not in stored and "BEGIN" not in stored
    # Encrypted with the key derived from SECRET_KEY: only that secret opens it.
    with override_settings(SECRET_KEY=SUBPROCESS_SECRET_KEY):
        pem = keys._fernet().decrypt(stored.encode())
    assert b"PRIVATE KEY" in pem
    assert jwk.JWK.from_pem(pem).thumbprint() == kids[0][0]


@pytest.mark.spec("OIDF", "oidcc-server-rotate-keys", "New signing key published and used; old tokens still verify")
@pytest.mark.spec("OIDC Core", "10.1.1", "Signing key rotation: both keys in the JWKS")
def test_it_keeps_verifying_a_token_signed_before_rotatekeys(signed_in, confidential_client):
    old_token = _id_token(signed_in, confidential_client)
    old_kid = _kid(old_token)
    assert _published_kids(signed_in) == {old_kid}

    said = io.StringIO()
    call_command("rotatekeys", stdout=said)

    new_kid = SigningKey.objects.get(retired_at__isnull=True).kid
    assert new_kid != old_kid and new_kid in said.getvalue()
    assert SigningKey.objects.get(kid=old_kid).retired_at is not None
    assert _published_kids(signed_in) == {old_kid, new_kid}
    claims = verify_id_token(signed_in, old_token, audience=confidential_client.client_id)
    assert claims["email"] == "carol@example.com"

    new_token = _id_token(signed_in, confidential_client)
    assert _kid(new_token) == new_kid
    assert verify_id_token(signed_in, new_token, audience=confidential_client.client_id)["sub"] == claims["sub"]


@pytest.mark.spec("OIDC Core", "10.1.1", "Retired key removed once its tokens expire")
def test_it_drops_a_retired_key_from_the_jwks_once_its_tokens_have_expired(signed_in, confidential_client):
    old_token = _id_token(signed_in, confidential_client)
    old_kid = _kid(old_token)
    call_command("rotatekeys", stdout=io.StringIO())
    retention = keys._retention()

    SigningKey.objects.filter(kid=old_kid).update(retired_at=timezone.now() - retention + timedelta(minutes=1))
    keys.invalidate()
    assert old_kid in _published_kids(signed_in)

    SigningKey.objects.filter(kid=old_kid).update(retired_at=timezone.now() - retention - timedelta(seconds=1))
    keys.invalidate()
    published = _published_kids(signed_in)
    assert old_kid not in published and len(published) == 1
    assert keys.key_for_kid(old_kid) is None
    with pytest.raises(JWKeyNotFound):
        verify_id_token(signed_in, old_token, audience=confidential_client.client_id)


def test_it_reads_the_keyset_from_the_database_at_most_once_a_minute(db, django_assert_num_queries):
    first = keys.keyset()
    assert first.active is not None

    with django_assert_num_queries(0):
        assert keys.keyset() is first
        assert keys.active_key() is first.active

    # Another node rotates; this one keeps its cached keys until the TTL has run out.
    other_node = keys.key_create(activate=True)
    keys._keyset = first
    with django_assert_num_queries(0):
        assert keys.active_key().thumbprint() != other_node.kid

    keys._keyset = dataclasses.replace(first, loaded_at=first.loaded_at - keys.KEYSET_TTL_SECONDS - 1)
    refreshed = keys.keyset()
    assert refreshed is not first
    assert refreshed.active.thumbprint() == other_node.kid
    assert set(refreshed.by_kid) == {first.active.thumbprint(), other_node.kid}


def test_it_parses_each_private_key_once_per_process(db, monkeypatch):
    parse = jwk.JWK.from_pem
    parsed: list[bytes] = []

    def counting_from_pem(cls, data, password=None):
        parsed.append(data)
        return parse(data, password)

    monkeypatch.setattr(jwk.JWK, "from_pem", classmethod(counting_from_pem))
    first = keys.keyset()
    assert len(parsed) == 1

    keys.invalidate()
    again = keys.keyset()
    assert again is not first and len(parsed) == 1
    assert again.active is first.active

    keys.key_create(activate=True)  # a rotation: only the new key is parsed
    rotated = keys.keyset()
    assert len(parsed) == 2 and len(rotated.by_kid) == 2
    assert rotated.by_kid[first.active.thumbprint()] is first.active
