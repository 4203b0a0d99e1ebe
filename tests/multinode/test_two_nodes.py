"""Two Gatehouse nodes on one PostgreSQL and one Redis are interchangeable (INTERFACE.md, "Many nodes").

Each node is gunicorn with production settings (DEBUG=0), on its own loopback port. Both use the same
GATEHOUSE_URL, as nodes behind one load balancer do; the test's browser plays the load balancer, sending
each request to the node it chooses with the public Host header. The upstream is a stub OpenID Connect
provider on loopback (the development upstream is refused when DEBUG is off).

Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust authentication: a throwaway database is created
and dropped) and Redis on 127.0.0.1:6379 (an empty database number is claimed and flushed afterwards).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import time
import uuid
from urllib.parse import urlencode

import pytest
import requests
from jwcrypto import jwk, jwt

from tests.multinode.support import Browser, Node, StubUpstream, answers, forms_of, manage, node_env, path_of, query_of

PG = ("127.0.0.1", 5432)
REDIS = ("127.0.0.1", 6379)
REDIRECT_URI = "http://127.0.0.1:9/callback"  # never contacted: the test reads the redirect
KEYSET_TTL_SECONDS = 2  # how soon a node re-reads the signing keys (60 s in production)
LOCK_KEY = "gatehouse-multinode-test"


def _unavailable() -> str | None:
    """Checked at collection: why this machine cannot run the test, or None."""
    if not answers(*PG):
        return "PostgreSQL is not answering on 127.0.0.1:5432"
    if not answers(*REDIS):
        return "Redis is not answering on 127.0.0.1:6379"
    try:
        import psycopg

        psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", connect_timeout=3).close()
    except Exception as exc:  # noqa: BLE001 - any reason to not connect is a reason to skip
        return f"PostgreSQL on 127.0.0.1:5432 refuses user postgres without a password: {exc}"
    return None


_UNAVAILABLE = _unavailable()
pytestmark = pytest.mark.skipif(_UNAVAILABLE is not None, reason=_UNAVAILABLE or "")


@pytest.fixture(scope="module")
def database():
    import psycopg

    name = f"gatehouse_multinode_{uuid.uuid4().hex[:12]}"
    admin = "postgresql://postgres@127.0.0.1:5432/postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    yield f"postgres://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def redis_db():
    """A Redis database number nobody else uses right now: empty, and claimed with a key of ours."""
    import redis

    token = secrets.token_hex(8)
    for number in range(15, 7, -1):
        connection = redis.Redis(host=REDIS[0], port=REDIS[1], db=number)
        if connection.set(LOCK_KEY, token, nx=True, ex=1800):
            if connection.dbsize() == 1:
                break
            connection.delete(LOCK_KEY)
        connection.close()
    else:
        pytest.skip("no empty Redis database among 8-15 to use")
    yield number
    connection.flushdb()  # only this number
    connection.close()


@pytest.fixture(scope="module")
def cluster(database, redis_db, tmp_path_factory):
    logs = tmp_path_factory.mktemp("nodes")
    with StubUpstream() as upstream:
        a = Node("node-a", {})
        b = Node("node-b", {})
        public_url = a.url  # both nodes answer for the same issuer, as behind one load balancer
        common = dict(
            DEBUG="0",
            SECRET_KEY="multinode-secret-key-" + "m" * 40,
            DATABASE_URL=database,
            REDIS_URL=f"redis://127.0.0.1:6379/{redis_db}",
            GATEHOUSE_URL=public_url,
            ALLOWED_HOSTS="127.0.0.1",
            GATEHOUSE_KEYSET_TTL_SECONDS=str(KEYSET_TTL_SECONDS),
            SOCIAL_AUTH_OIDC_OIDC_ENDPOINT=upstream.issuer,
            SOCIAL_AUTH_OIDC_KEY=upstream.CLIENT_ID,
            SOCIAL_AUTH_OIDC_SECRET=upstream.CLIENT_SECRET,
            GATEHOUSE_OIDC_UPSTREAM_NAME="Stub SSO",
        )
        a.env = node_env(**common, PROMETHEUS_MULTIPROC_DIR=str(logs / "metrics-a"))
        b.env = node_env(**common, PROMETHEUS_MULTIPROC_DIR=str(logs / "metrics-b"))
        manage(a.env, "migrate", "--noinput")
        client = json.loads(manage(a.env, "createclient", "--name", "Wiki", "--redirect-uri", REDIRECT_URI, "--json"))
        try:
            a.start(logs)
            b.start(logs)
            yield {"a": a, "b": b, "public_url": public_url, "client": client, "upstream": upstream, "redis_db": redis_db}
        finally:
            a.stop()
            b.stop()


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    return verifier, base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def sign_in(cluster, *, start: Node, finish: Node) -> dict:
    """A person signs in to the Wiki: begun on `start`, the upstream's callback lands on `finish`.

    Answers the token response (exchanged at `start`) plus what the test needs to check it.
    """
    client, public_url = cluster["client"], cluster["public_url"]
    browser = Browser(public_url.removeprefix("http://"))
    verifier, challenge = _pkce()
    state, nonce = secrets.token_urlsafe(8), secrets.token_urlsafe(8)
    authorize = "/o/authorize/?" + urlencode({
        "response_type": "code", "client_id": client["client_id"], "redirect_uri": REDIRECT_URI,
        "scope": "openid profile email", "state": state, "nonce": nonce,
        "code_challenge": challenge, "code_challenge_method": "S256",
    })  # fmt: skip
    try:
        to_login = browser.get(start, authorize)
        assert to_login.status_code == 302 and to_login.headers["Location"].startswith("/login/"), to_login.text
        login_page = browser.get(start, path_of(to_login.headers["Location"]))
        assert login_page.status_code == 200, login_page.text
        form = next(f for f in forms_of(login_page.text) if f["action"] == "/login/oidc/")
        to_upstream = browser.post(start, "/login/oidc/", form["fields"])
        assert to_upstream.status_code == 302, start.log()
        upstream_request = query_of(to_upstream.headers["Location"])
        assert upstream_request["redirect_uri"] == f"{public_url}/complete/oidc/"

        callback = browser.session.get(to_upstream.headers["Location"], allow_redirects=False, timeout=10)
        assert callback.status_code == 302
        back = browser.get(finish, path_of(callback.headers["Location"]))
        assert back.status_code == 302, finish.log()
        assert back.headers["Location"].startswith("/o/authorize/"), back.headers["Location"]

        consent = browser.get(finish, path_of(back.headers["Location"]))
        if consent.status_code == 200:  # first time: the consent page; press Allow on the other node
            form = next(f for f in forms_of(consent.text) if "allow" in f["submits"])
            answered = browser.post(start, path_of(back.headers["Location"]), {**form["fields"], "allow": "1"})
        else:  # consent remembered from an earlier sign-in
            answered = consent
        assert answered.status_code == 302, answered.text
        redirect = query_of(answered.headers["Location"])
        assert redirect["state"] == state and redirect["iss"] == public_url

        tokens = requests.post(
            f"{start.url}/o/token/",
            data={"grant_type": "authorization_code", "code": redirect["code"], "redirect_uri": REDIRECT_URI,
                  "code_verifier": verifier},
            auth=(client["client_id"], client["client_secret"]),
            headers={"Host": browser.public_host},
            timeout=30,
        )  # fmt: skip
        assert tokens.status_code == 200, tokens.text
        account = browser.get(start, "/account/")  # the session made on `finish` is known on `start`
        assert account.status_code == 200 and "dana@example.org" in account.text
        return {**tokens.json(), "nonce": nonce, "state": state, "code": redirect["code"]}
    finally:
        browser.close()


def jwks_of(node: Node) -> jwk.JWKSet:
    response = requests.get(f"{node.url}/o/.well-known/jwks.json", timeout=10)
    assert response.status_code == 200
    return jwk.JWKSet.from_json(response.text)


def claims_of(id_token: str, node: Node, *, issuer: str, audience: str) -> tuple[dict, str]:
    """Verify an ID token the way a relying party does, against `node`'s JWKS; answers claims and kid."""
    verified = jwt.JWT(jwt=id_token, key=jwks_of(node), algs=["RS256"], check_claims={"iss": issuer, "aud": audience, "exp": None})
    return json.loads(verified.claims), json.loads(verified.token.objects["protected"])["kid"]


def introspect(node: Node, cluster, token: str) -> dict:
    client = cluster["client"]
    response = requests.post(
        f"{node.url}/o/introspect/", data={"token": token}, auth=(client["client_id"], client["client_secret"]), timeout=10
    )
    assert response.status_code == 200, response.text
    return response.json()


def count(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_it_finishes_on_node_b_a_sign_in_begun_on_node_a(cluster):
    a, b = cluster["a"], cluster["b"]
    a_before, b_before = a.metrics(), b.metrics()

    tokens = sign_in(cluster, start=a, finish=b)

    claims, _kid = claims_of(tokens["id_token"], b, issuer=cluster["public_url"], audience=cluster["client"]["client_id"])
    assert claims["nonce"] == tokens["nonce"] and claims["email"] == "dana@example.org"
    userinfo = requests.get(f"{b.url}/o/userinfo/", headers={"Authorization": f"Bearer {tokens['access_token']}"}, timeout=10)
    assert userinfo.status_code == 200 and userinfo.json()["sub"] == claims["sub"]
    # Each node counts what it did, added up over its workers: B completed the sign-in, A issued the tokens.
    b_after, a_after = b.metrics(), a.metrics()
    sign_ins = {"provider": "oidc", "via": "browser", "outcome": "success"}
    assert count(b_after, "gatehouse_sign_ins_total", **sign_ins) - count(b_before, "gatehouse_sign_ins_total", **sign_ins) == 1
    assert count(a_after, "gatehouse_tokens_issued_total", grant_type="authorization_code") - count(
        a_before, "gatehouse_tokens_issued_total", grant_type="authorization_code"
    ) == 1


def test_it_introspects_and_revokes_through_node_b_a_token_issued_by_node_a(cluster):
    a, b = cluster["a"], cluster["b"]
    client = cluster["client"]
    tokens = sign_in(cluster, start=a, finish=a)

    active = introspect(b, cluster, tokens["access_token"])
    assert active["active"] is True and active["client_id"] == client["client_id"] and active["sub"]

    revoked = requests.post(
        f"{b.url}/o/revoke_token/", data={"token": tokens["access_token"]},
        auth=(client["client_id"], client["client_secret"]), timeout=10,
    )  # fmt: skip
    assert revoked.status_code == 200

    assert introspect(a, cluster, tokens["access_token"]) == {"active": False}
    userinfo = requests.get(f"{a.url}/o/userinfo/", headers={"Authorization": f"Bearer {tokens['access_token']}"}, timeout=10)
    assert userinfo.status_code == 401
    # Revoking the access token revoked its refresh token too, on every node.
    refreshed = requests.post(
        f"{a.url}/o/token/", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(client["client_id"], client["client_secret"]), timeout=10,
    )  # fmt: skip
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"


def test_it_serves_on_node_b_a_key_rotated_on_node_a(cluster):
    a, b = cluster["a"], cluster["b"]
    issuer, audience = cluster["public_url"], cluster["client"]["client_id"]
    before = {key["kid"] for key in json.loads(jwks_of(b).export(private_keys=False))["keys"]}
    assert before

    output = manage(a.env, "rotatekeys")
    new_kid = re.search(r"New signing key (\S+) is active", output).group(1)
    assert new_kid not in before

    # Every worker of B re-reads within KEYSET_TTL_SECONDS: wait until several answers in a row have it.
    deadline, in_a_row = time.monotonic() + 4 * KEYSET_TTL_SECONDS + 10, 0
    while in_a_row < 6:
        assert time.monotonic() < deadline, f"node B's JWKS never served {new_kid}:\n{b.log()}"
        kids = {key["kid"] for key in json.loads(jwks_of(b).export(private_keys=False))["keys"]}
        in_a_row = in_a_row + 1 if new_kid in kids else 0
        time.sleep(0.2)
    assert before <= kids  # the old key stays published while tokens it signed may live

    time.sleep(KEYSET_TTL_SECONDS + 0.5)  # every worker of A signs with the new key by now
    tokens = sign_in(cluster, start=a, finish=b)
    _claims, kid = claims_of(tokens["id_token"], b, issuer=issuer, audience=audience)
    assert kid == new_kid


def test_it_shares_the_cache_that_rate_limits_count_in(cluster):
    """Rate limits keep their counters in Django's cache, which is Redis here: one counter for both nodes."""
    import redis

    a, b = cluster["a"], cluster["b"]
    probe = "from django.core.cache import cache; cache.add('multinode:probe', 0, 60); print(cache.incr('multinode:probe'))"
    assert manage(a.env, "shell", "--no-imports", "-c", probe).strip() == "1"
    assert manage(b.env, "shell", "--no-imports", "-c", probe).strip() == "2"
    assert manage(a.env, "shell", "--no-imports", "-c", probe).strip() == "3"
    keys = redis.Redis(host=REDIS[0], port=REDIS[1], db=cluster["redis_db"]).keys("*multinode:probe")
    assert len(keys) == 1


def test_it_keeps_tokens_codes_and_states_out_of_the_nodes_logs(cluster):
    a, b = cluster["a"], cluster["b"]
    tokens = sign_in(cluster, start=b, finish=a)
    time.sleep(0.5)  # let gunicorn flush the last lines
    logs = a.log_path.read_text(errors="replace") + b.log_path.read_text(errors="replace")
    json_lines = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    assert any(entry.get("request_id") for entry in json_lines)  # DEBUG=0: JSON with request ids
    for name in ("access_token", "refresh_token", "id_token", "code", "state", "nonce"):
        assert tokens[name] not in logs, f"the {name} was logged"
    assert cluster["client"]["client_secret"] not in logs


# Last in this module: once rate limiting exists, this test exhausts a limit for 127.0.0.1.
def test_it_counts_a_rate_limit_across_both_nodes(cluster):
    a, b = cluster["a"], cluster["b"]

    def requests_until_limited(nodes: list[Node], client_id: str, at_most: int = 200) -> int | None:
        """Failed client authentications, alternating over `nodes`, until one answers 429."""
        for n in range(1, at_most + 1):
            response = requests.post(
                f"{nodes[n % len(nodes)].url}/o/token/",
                data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": "wrong"},
                timeout=10,
            )
            if response.status_code == 429:
                return n
        return None

    alone = requests_until_limited([a], "probe-" + secrets.token_hex(4))
    assert alone is not None, "200 failed token requests on node A and none was refused with 429"
    # Counted per node, alternating would take twice as many; counted in the shared cache, the same number
    # (or none, if the limit is per address and 127.0.0.1 is still limited).
    together = requests_until_limited([a, b], "probe-" + secrets.token_hex(4))
    assert together is not None and together <= alone + 1
