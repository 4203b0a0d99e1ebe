"""Gatehouse nodes under gunicorn, a stub OpenID Connect upstream, and a browser that picks the node.

Everything listens on loopback ports chosen by the kernel and is stopped by the test that started it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
from jwcrypto import jwk, jwt
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]
# What a node inherits from the test run; everything else it is given explicitly (the test process
# itself runs with tests/settings.py's variables, which must not leak into a production-like node).
INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONDONTWRITEBYTECODE")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def node_env(**settings: str) -> dict[str, str]:
    env = {name: os.environ[name] for name in INHERITED if name in os.environ}
    env.update({"DJANGO_SETTINGS_MODULE": "idp.settings", "PYTHONUNBUFFERED": "1", **settings})
    return env


def manage(env: dict[str, str], *args: str) -> str:
    """Run `manage.py` the way an operator on a node would, with that node's environment."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@dataclass
class Node:
    """One Gatehouse node: `gunicorn idp.wsgi:application -c gunicorn.conf.py` on its own port."""

    name: str
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    log_path: Path | None = None
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, log_dir: Path, workers: int = 2) -> None:
        self.log_path = log_dir / f"{self.name}.log"
        env = {**self.env, "GUNICORN_BIND": f"127.0.0.1:{self.port}", "GUNICORN_WORKERS": str(workers),
               "GUNICORN_THREADS": "2"}  # fmt: skip
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "idp.wsgi:application"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"node {self.name} exited at start:\n{self.log()}")
            try:
                if requests.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"node {self.name} did not answer /healthz within 40 s:\n{self.log()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)  # gunicorn's graceful stop
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:] if self.log_path and self.log_path.exists() else ""

    def metrics(self) -> dict[tuple[str, frozenset], float]:
        response = requests.get(f"{self.url}/metrics", timeout=10)
        assert response.status_code == 200, response.text
        return {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples
        }


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append({"action": attrs.get("action") or "", "fields": {}, "submits": {}})
        elif tag in ("input", "button") and self.forms and attrs.get("name"):
            kind = attrs.get("type", "submit" if tag == "button" else "text")
            target = "submits" if kind == "submit" else "fields"
            self.forms[-1][target][attrs["name"]] = attrs.get("value") or ""


def forms_of(html: str) -> list[dict]:
    parser = _Forms()
    parser.feed(html)
    return parser.forms


class Browser:
    """One person's browser behind a load balancer: one cookie jar, each request sent to a chosen node.

    Every request carries the public host (GATEHOUSE_URL's), as a load balancer passes it on, so both
    nodes build the same redirect URIs and the upstream's callback may land on either of them.
    """

    def __init__(self, public_host: str) -> None:
        self.public_host = public_host
        self.session = requests.Session()

    def get(self, node: Node, path: str) -> requests.Response:
        return self.session.get(node.url + path, headers={"Host": self.public_host}, allow_redirects=False, timeout=30)

    def post(self, node: Node, path: str, data: dict) -> requests.Response:
        return self.session.post(
            node.url + path, data=data, headers={"Host": self.public_host}, allow_redirects=False, timeout=30
        )

    def close(self) -> None:
        self.session.close()


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class StubUpstream:
    """A tiny OpenID Connect provider with one fixed account that approves every request at once.

    Just enough of OpenID Connect Core for social-core's generic backend: discovery, an authorization
    endpoint that redirects straight back with a code, a token endpoint (client secret, PKCE S256,
    redirect URI checked) answering an RS256 ID token with the nonce, userinfo and JWKS.
    """

    CLIENT_ID = "gatehouse-at-stub"
    CLIENT_SECRET = "stub-upstream-secret-" + "s" * 20
    ACCOUNT = {"sub": "stub-user-1", "email": "dana@example.org", "email_verified": True, "name": "Dana Stub"}

    def __init__(self) -> None:
        self.key = jwk.JWK.generate(kty="RSA", size=2048, kid="stub-key-1", alg="RS256", use="sig")
        self.codes: dict[str, dict] = {}
        self.tokens: set[str] = set()
        self.lock = threading.Lock()
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep the test output quiet
                pass

            def do_GET(self):
                upstream.get(self)

            def do_POST(self):
                upstream.post(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> StubUpstream:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    @staticmethod
    def _json(handler: BaseHTTPRequestHandler, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def get(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        params = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if parts.path == "/.well-known/openid-configuration":
            return self._json(handler, 200, {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "userinfo_endpoint": f"{self.issuer}/userinfo",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                "code_challenge_methods_supported": ["S256"],
            })  # fmt: skip
        if parts.path == "/jwks":
            return self._json(handler, 200, {"keys": [json.loads(self.key.export_public())]})
        if parts.path == "/authorize":
            if params.get("client_id") != self.CLIENT_ID or params.get("response_type") != "code":
                return self._json(handler, 400, {"error": "invalid_request"})
            code = secrets.token_urlsafe(24)
            with self.lock:
                self.codes[code] = params
            handler.send_response(302)
            target = f"{params['redirect_uri']}?{urlencode({'code': code, 'state': params.get('state', '')})}"
            handler.send_header("Location", target)
            handler.end_headers()
            return None
        if parts.path == "/userinfo":
            token = handler.headers.get("Authorization", "").removeprefix("Bearer ")
            if token not in self.tokens:
                return self._json(handler, 401, {"error": "invalid_token"})
            return self._json(handler, 200, self.ACCOUNT)
        return self._json(handler, 404, {"error": "not_found"})

    def post(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in parse_qs(handler.rfile.read(length).decode()).items()}
        if urlsplit(handler.path).path != "/token":
            return self._json(handler, 404, {"error": "not_found"})
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        basic = handler.headers.get("Authorization", "")
        if basic.startswith("Basic "):
            client_id, _, client_secret = base64.b64decode(basic[6:]).decode().partition(":")
        if (client_id, client_secret) != (self.CLIENT_ID, self.CLIENT_SECRET):
            return self._json(handler, 401, {"error": "invalid_client"})
        with self.lock:
            request = self.codes.pop(form.get("code", ""), None)
        if request is None or request.get("redirect_uri") != form.get("redirect_uri"):
            return self._json(handler, 400, {"error": "invalid_grant"})
        if "code_challenge" in request:
            verifier = form.get("code_verifier", "")
            if b64url(hashlib.sha256(verifier.encode()).digest()) != request["code_challenge"]:
                return self._json(handler, 400, {"error": "invalid_grant", "error_description": "PKCE"})
        access_token = secrets.token_urlsafe(24)
        self.tokens.add(access_token)
        now = int(time.time())
        claims = {**self.ACCOUNT, "iss": self.issuer, "aud": self.CLIENT_ID, "iat": now, "exp": now + 300,
                  "auth_time": now, "nonce": request.get("nonce", "")}  # fmt: skip
        token = jwt.JWT(header={"alg": "RS256", "kid": self.key.get("kid")}, claims=claims)
        token.make_signed_token(self.key)
        return self._json(handler, 200, {"access_token": access_token, "token_type": "Bearer", "expires_in": 300,
                                         "id_token": token.serialize()})  # fmt: skip
