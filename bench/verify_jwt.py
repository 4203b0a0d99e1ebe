"""Local validation of JWT access tokens by a resource server (gatehouse_rs), single thread, one core.

Usage: python bench/verify_jwt.py GATEHOUSE_URL "Basic <client credentials of a JWT-format client>"
Mints a few tokens from the running server, then verifies them round-robin against the server's real JWKS
(fetched once through discovery), timing each verification. Prints one JSON line.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.request

import jwt

from gatehouse_rs import TokenVerifier

TOKENS = 50
VERIFICATIONS = 30_000


def mint(issuer: str, auth: str) -> str:
    request = urllib.request.Request(
        f"{issuer}/o/token/", data=b"grant_type=client_credentials", method="POST",
        headers={"Authorization": auth, "Content-Type": "application/x-www-form-urlencoded"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["access_token"]


def main() -> None:
    issuer, auth = sys.argv[1], sys.argv[2]
    tokens = [mint(issuer, auth) for _ in range(TOKENS)]
    # A client-credentials token without `resource` is for the client itself (idp/tokens.py).
    audience = jwt.decode(tokens[0], options={"verify_signature": False})["aud"]
    verifier = TokenVerifier(issuer=issuer, audience=audience)
    for token in tokens:  # warm-up, and the single JWKS fetch
        verifier.verify(token)
    timings = []
    started = time.perf_counter()
    for i in range(VERIFICATIONS):
        t0 = time.perf_counter()
        verifier.verify(tokens[i % TOKENS])
        timings.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - started
    timings.sort()
    print(json.dumps({
        "per_second": VERIFICATIONS / elapsed,
        "p50_ms": timings[len(timings) // 2] * 1000,
        "p99_ms": timings[int(len(timings) * 0.99)] * 1000,
        "tokens": TOKENS,
        "jwks_fetches": verifier.jwks.fetches,
    }))


if __name__ == "__main__":
    main()
