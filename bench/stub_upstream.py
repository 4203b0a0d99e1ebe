"""A stand-in OpenID Connect upstream for the sign-in benchmark: every answer comes after --delay seconds.

Gatehouse uses it as its generic `oidc` upstream (SOCIAL_AUTH_OIDC_OIDC_ENDPOINT=http://127.0.0.1:PORT).
It is stateless: the authorization code that the benchmark's "browser" hands to /complete/oidc/ is
`<user number>.<nonce>`, so the token endpoint can sign an ID token for that person with that nonce
without having seen the authorization request. The browser's visit to the upstream's own sign-in page
is not simulated: that costs the upstream and the person, not Gatehouse.

Usage: python bench/stub_upstream.py --port 8765 [--delay 0.1]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

CLIENT_ID = "bench-upstream-client"
CLIENT_SECRET = "bench-upstream-secret"
KID = "bench-upstream-key"


class Upstream:
    def __init__(self, issuer: str, delay: float) -> None:
        self.issuer = issuer
        self.delay = delay
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        self.jwks = {"keys": [{**public, "kid": KID, "alg": "RS256", "use": "sig"}]}
        self.served = 0
        self.lock = threading.Lock()

    def discovery(self) -> dict:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        }

    def person(self, number: str) -> dict:
        return {
            "sub": f"bench-{number}",
            "email": f"person{number}@bench.example",
            "email_verified": True,
            "name": f"Person {number}",
        }

    def token(self, code: str) -> dict:
        number, _, nonce = code.partition(".")
        access_token = f"at-{number}"
        now = int(time.time())
        digest = hashlib.sha256(access_token.encode()).digest()
        claims = {
            **self.person(number),
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "auth_time": now,
            "nonce": nonce,
            "at_hash": base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode(),
        }
        id_token = jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": KID})
        return {"access_token": access_token, "token_type": "Bearer", "expires_in": 300, "id_token": id_token}


def make_handler(upstream: Upstream) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def _answer(self, status: int, body: dict) -> None:
            time.sleep(upstream.delay)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            with upstream.lock:
                upstream.served += 1

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            if path == "/.well-known/openid-configuration":
                return self._answer(200, upstream.discovery())
            if path == "/jwks":
                return self._answer(200, upstream.jwks)
            if path == "/userinfo":
                token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                return self._answer(200, upstream.person(token.removeprefix("at-")))
            if path == "/stats":
                self.delay_free({"served": upstream.served})
                return None
            return self._answer(404, {"error": "not_found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            if urlsplit(self.path).path == "/token" and form.get("code"):
                return self._answer(200, upstream.token(form["code"]))
            return self._answer(400, {"error": "invalid_request"})

        def delay_free(self, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--delay", type=float, default=0.1)
    args = parser.parse_args()
    upstream = Upstream(f"http://127.0.0.1:{args.port}", args.delay)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(upstream))
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
