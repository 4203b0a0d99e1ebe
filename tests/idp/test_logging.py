"""Logs: a request id on every line and every response, JSON in production, and never a secret."""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from idp.logging import JsonFormatter, PlainFormatter, redact
from tests.conftest import approve_consent, authorize_url, dev_sign_in, exchange_code, query_of

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.django_db  # /healthz asks the database


@pytest.fixture
def json_log():
    """Everything logged during the test, formatted as production formats it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    yield stream
    root.removeHandler(handler)


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_it_echoes_a_well_formed_request_id_from_the_proxy(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="7f3c2a9e-proxy-0001")
    assert response["X-Request-ID"] == "7f3c2a9e-proxy-0001"


@pytest.mark.parametrize("supplied", ["short", "has space in it", "line\nbreak-forged-entry", "x" * 200, "<script>alert</script>"])
def test_it_replaces_a_malformed_request_id(client, supplied):
    response = client.get("/healthz", HTTP_X_REQUEST_ID=supplied)
    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])


def test_it_generates_a_fresh_request_id_for_each_request(client):
    first, second = client.get("/healthz"), client.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{32}", first["X-Request-ID"])
    assert first["X-Request-ID"] != second["X-Request-ID"]


def test_it_echoes_the_request_id_on_redirects_and_errors(client):
    assert client.get("/o/authorize/?client_id=nope")["X-Request-ID"]
    assert client.get("/no-such-page/")["X-Request-ID"]


def test_it_puts_the_request_id_in_json_log_lines(client, json_log):
    response = client.get("/no-such-page/?secret=1", HTTP_X_REQUEST_ID="req-0123456789")
    assert response.status_code == 404
    entries = lines(json_log)
    access = [e for e in entries if e["logger"] == "gatehouse.request"]
    assert access == [
        {
            "time": access[0]["time"],
            "level": "INFO",
            "logger": "gatehouse.request",
            "message": "GET /no-such-page/ 404",
            "request_id": "req-0123456789",
            "method": "GET",
            "path": "/no-such-page/",
            "status": 404,
            "duration_ms": access[0]["duration_ms"],
            "ip": "127.0.0.1",
        }
    ]
    # Django's own warning about the 404 is tied to the same request.
    warnings = [e for e in entries if e["logger"] == "django.request"]
    assert warnings and all(e["request_id"] == "req-0123456789" for e in warnings)


def test_it_logs_no_request_id_outside_a_request(json_log):
    logging.getLogger("gatehouse.test").warning("started")
    assert lines(json_log)[-1]["request_id"] is None


def test_it_never_logs_a_token_code_state_or_secret(client, confidential_client, json_log, caplog):
    caplog.set_level(logging.DEBUG, logger="gatehouse")  # our own loggers at their most talkative
    auth = authorize_url(confidential_client)
    dev_sign_in(client, "alice@example.com", next_url=auth.url)
    code = query_of(approve_consent(client, auth.url))["code"]
    tokens = exchange_code(client, confidential_client, code, auth.verifier).json()
    basic = (confidential_client.client_id, confidential_client.client_secret)
    client.post("/o/introspect/", {"token": tokens["access_token"]}, HTTP_AUTHORIZATION=_basic(*basic))
    client.post("/o/revoke_token/", {"token": tokens["refresh_token"], "client_id": basic[0], "client_secret": basic[1]})
    # A replayed code and a failed upstream callback are logged as warnings: still nothing secret in them.
    exchange_code(client, confidential_client, code, auth.verifier)
    client.get(f"/complete/dev/?code=upstream-code-{code}&state=upstream-state-value")

    output = json_log.getvalue()
    assert output, "nothing was logged"
    secrets = {
        "authorization code": code,
        "access token": tokens["access_token"],
        "refresh token": tokens["refresh_token"],
        "ID token": tokens["id_token"],
        "client secret": confidential_client.client_secret,
        "state": auth.state,
        "nonce": auth.nonce,
        "PKCE verifier": auth.verifier,
        "upstream state": "upstream-state-value",
    }
    leaked = [name for name, secret in secrets.items() if secret in output]
    assert leaked == []
    assert "?" not in "".join(e.get("path", "") for e in lines(json_log))


def _basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


@pytest.mark.parametrize(
    ("text", "kept", "gone"),
    [
        ("GET /o/authorize/?client_id=a&state=s3cr3t&code_challenge=xyz", "/o/authorize/?", "s3cr3t"),
        ("redirect to https://app.example.com/cb?code=abc123def&state=qq77", "https://app.example.com/cb", "abc123def"),
        ("callback /complete/kakao/?code=kakao-code-1&state=st", "/complete/kakao/", "kakao-code-1"),
        ("body: grant_type=refresh_token&refresh_token=rt-9999&client_id=x", "grant_type=refresh_token", "rt-9999"),
        ("{'access_token': 'at-8888', 'token_type': 'Bearer'}", "token_type", "at-8888"),
        ('{"client_secret": "cs-7777"}', "client_secret", "cs-7777"),
        ("Authorization: Bearer abc.def.ghi-123", "Authorization: Bearer", "abc.def.ghi-123"),
        ("id_token_hint eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", "id_token_hint", "eyJhbGciOiJSUzI1NiJ9"),
        ("upstream sign-in failed: backend=google code=auth_canceled stage=callback", "code=auth_canceled", "\x00"),
    ],
)
def test_it_masks_secrets_that_reach_a_log_message(text, kept, gone):
    masked = redact(text)
    assert kept in masked
    assert gone not in masked


def test_it_masks_secrets_in_exceptions_and_extra_fields():
    try:
        raise ValueError("token endpoint said access_token=at-5555")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    record.url = "/o/token/?refresh_token=rt-6666"
    record.request = object()  # Django passes the request; its repr holds the query string
    entry = json.loads(JsonFormatter().format(record))
    assert "at-5555" not in entry["exception"] and "rt-6666" not in entry["url"]
    assert "request" not in entry
    plain = PlainFormatter().format(record)
    assert "at-5555" not in plain and "[-]" in plain


def _log_once(tmp_path, **env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SOCIAL_AUTH_", "GATEHOUSE_", "DEBUG", "SECRET_KEY", "DATABASE_URL"))}
    clean.update({"DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3", "SECRET_KEY": "s" * 50, **env})
    return subprocess.run(
        [sys.executable, "-c", "import django, logging, os; os.environ['DJANGO_SETTINGS_MODULE']='idp.settings'; "
         "django.setup(); logging.getLogger('gatehouse.test').warning('hello %s', 'there')"],
        cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_it_logs_json_when_debug_is_off(tmp_path):
    result = _log_once(tmp_path)
    assert result.returncode == 0, result.stderr
    entry = json.loads(result.stderr.strip().splitlines()[-1])
    assert entry["message"] == "hello there" and entry["level"] == "WARNING" and entry["logger"] == "gatehouse.test"


def test_it_logs_plain_text_when_asked(tmp_path):
    result = _log_once(tmp_path, GATEHOUSE_LOG_FORMAT="plain")
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().splitlines()[-1].endswith("WARNING gatehouse.test [-] hello there")


def test_it_rejects_an_unknown_log_format(tmp_path):
    result = _log_once(tmp_path, GATEHOUSE_LOG_FORMAT="xml")
    assert result.returncode != 0 and "GATEHOUSE_LOG_FORMAT must be json or plain" in result.stderr


def test_it_rejects_a_malformed_metrics_allow_list(tmp_path):
    result = _log_once(tmp_path, GATEHOUSE_METRICS_ALLOW="10.0.0.0/8,not-a-network")
    assert result.returncode != 0 and "GATEHOUSE_METRICS_ALLOW" in result.stderr
