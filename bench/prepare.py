"""Make the benchmark's data in a fresh Gatehouse database: clients, a person, and single-use credentials.

Run by bench/run.py with the same environment as the server under test (DATABASE_URL, settings). The
authorization codes and refresh tokens each workload consumes are written in bulk, exactly as
django-oauth-toolkit stores them (codes as issued with their PKCE challenge; refresh tokens and their
access tokens as checksums), then handed to wrk as ready-made request bodies, one per line.

Usage: python bench/prepare.py OUT_DIR CODES REFRESH_TOKENS   (prints a JSON description)
       python bench/prepare.py OUT_DIR --default-hasher-client
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import sys
import uuid
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
REDIRECT_URI = "http://127.0.0.1:9/cb"
SCOPE = "openid profile email"


def _basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def _write_bodies(path: Path, bodies: list[str]) -> str:
    path.write_text("\n".join(bodies) + "\n")
    return str(path)


def main() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "idp.settings")
    import django

    django.setup()
    from django.utils import timezone
    from oauth2_provider.models import get_access_token_model, get_grant_model, get_refresh_token_model
    from oauth2_provider.models import set_token_value

    from clients.services import client_register
    from idp import keys
    from idp.services import user_create

    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)

    if sys.argv[2] == "--default-hasher-client":
        # Registered under GATEHOUSE_CLIENT_SECRET_HASHER=default: its secret is hashed with Django's
        # PBKDF2, as django-oauth-toolkit does out of the box.
        slow = client_register(name="bench default hasher", redirect_uris=[], grant="client-credentials",
                               scopes=["gatehouse:admin"])
        print(json.dumps({"default_hasher_auth": _basic(slow.application.client_id, slow.client_secret),
                          "default_hasher_hash": slow.application.client_secret.split("$", 1)[0]}))
        return

    codes, refresh_tokens = int(sys.argv[2]), int(sys.argv[3])
    Grant, AccessToken, RefreshToken = get_grant_model(), get_access_token_model(), get_refresh_token_model()
    keys.keyset()  # the signing key exists before the first worker starts

    service = client_register(name="bench service", redirect_uris=[], grant="client-credentials",
                              scopes=["gatehouse:admin"])
    service_jwt = client_register(name="bench service (JWT)", redirect_uris=[], grant="client-credentials",
                                  scopes=["gatehouse:admin"], access_token_format="jwt")
    web = client_register(name="bench web app", redirect_uris=[REDIRECT_URI], trusted=True)
    web_app, web_secret = web.application, web.client_secret
    owner = user_create(email="owner@bench.example", email_verified=True, name="Bench Owner", nickname="owner")
    now = timezone.now()

    # Authorization codes with PKCE, valid long enough for the run (as issued they live 60 s).
    verifier = secrets.token_urlsafe(48)
    challenge = _s256(verifier)
    grants = [
        Grant(application=web_app, user=owner, code=secrets.token_urlsafe(30), expires=now + timedelta(hours=1),
              redirect_uri=REDIRECT_URI, scope=SCOPE, code_challenge=challenge, code_challenge_method="S256",
              nonce="n", claims="{}")
        for _ in range(codes)
    ]
    Grant.objects.bulk_create(grants, batch_size=2000)
    auth = {"client_id": web_app.client_id, "client_secret": web_secret}
    code_bodies = [
        urlencode({"grant_type": "authorization_code", "code": g.code, "redirect_uri": REDIRECT_URI,
                   "code_verifier": verifier, **auth})
        for g in grants
    ]

    # Refresh tokens, each with the access token it was issued with.
    raw_refresh = [secrets.token_urlsafe(30) for _ in range(refresh_tokens)]
    access = []
    for _ in raw_refresh:
        token = AccessToken(user=owner, application=web_app, scope=SCOPE, expires=now + timedelta(hours=1))
        set_token_value(token, secrets.token_urlsafe(30))
        access.append(token)
    AccessToken.objects.bulk_create(access, batch_size=2000)
    refresh = []
    for raw, token in zip(raw_refresh, access):
        row = RefreshToken(user=owner, application=web_app, access_token=token, token_family=uuid.uuid4())
        set_token_value(row, raw)
        refresh.append(row)
    RefreshToken.objects.bulk_create(refresh, batch_size=2000)
    refresh_bodies = [urlencode({"grant_type": "refresh_token", "refresh_token": raw, **auth}) for raw in raw_refresh]

    # One long-lived access token for introspection and userinfo.
    bearer = secrets.token_urlsafe(30)
    token = AccessToken(user=owner, application=web_app, scope=SCOPE, expires=now + timedelta(days=1))
    set_token_value(token, bearer)
    token.save()

    def split(name: str, bodies: list[str]) -> dict[str, str]:
        # The warm-up run and the measured run each get their own codes: a code works once.
        cut = len(bodies) // 5
        return {f"{name}_warmup": _write_bodies(out / f"{name}_warmup.txt", bodies[:cut]),
                f"{name}": _write_bodies(out / f"{name}.txt", bodies[cut:])}

    print(json.dumps({
        "service_auth": _basic(service.application.client_id, service.client_secret),
        "service_jwt_auth": _basic(service_jwt.application.client_id, service_jwt.client_secret),
        "web_client_id": web_app.client_id,
        "web_auth": _basic(web_app.client_id, web_secret),
        "redirect_uri": REDIRECT_URI,
        "verifier": verifier,
        "challenge": challenge,
        "bearer": bearer,
        **split("codes", code_bodies),
        **split("refresh", refresh_bodies),
    }))


if __name__ == "__main__":
    main()
