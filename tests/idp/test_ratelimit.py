"""Rate limits (idp/ratelimit.py): per address and per client, fixed windows in the cache, 429 + Retry-After."""

from __future__ import annotations

import base64
import logging

import pytest
from django.core.cache import cache
from django.test import Client

LIMITS = {
    "window_seconds": 60,
    "oauth": {"per_ip": 5, "per_client": 3},
    "api": {"per_ip": 4, "per_client": 4},
    "pages": {"per_ip": 2},
}


@pytest.fixture
def limited(settings):
    settings.GATEHOUSE_RATE_LIMITS = True
    settings.GATEHOUSE_RATE_LIMIT = LIMITS
    cache.clear()
    yield settings
    cache.clear()


def _token(client: Client, client_id: str, ip: str = "10.0.0.1"):
    return client.post(
        "/o/token/",
        {"grant_type": "client_credentials", "client_id": client_id, "client_secret": "wrong"},
        REMOTE_ADDR=ip,
    )


@pytest.mark.django_db
def test_it_refuses_a_client_over_its_limit_with_oauth_json_and_retry_after(limited, client):
    statuses = [_token(client, "probe").status_code for _ in range(3)]
    assert statuses == [401, 401, 401]
    refused = _token(client, "probe")
    assert refused.status_code == 429
    assert refused.json()["error"] == "slow_down"
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert "no-store" in refused["Cache-Control"] or "no-cache" in refused["Cache-Control"]


@pytest.mark.django_db
def test_it_counts_a_client_named_in_basic_auth_like_one_in_the_body(limited, client):
    basic = "Basic " + base64.b64encode(b"probe:wrong").decode()
    for _ in range(3):
        client.post("/o/introspect/", {"token": "x"}, HTTP_AUTHORIZATION=basic, REMOTE_ADDR="10.0.0.2")
    assert _token(client, "probe", ip="10.0.0.3").status_code == 429
    assert _token(client, "another", ip="10.0.0.3").status_code == 401


@pytest.mark.django_db
def test_claiming_a_clients_id_from_many_addresses_does_not_lock_the_real_client_out(limited, client, service_client):
    # Wrong secrets under the service's client_id, each address under its own limit.
    for n in range(12):
        response = client.post("/o/token/", {"grant_type": "client_credentials", "client_id": service_client.client_id,
                                             "client_secret": f"guess-{n}"}, REMOTE_ADDR=f"10.1.0.{n}")
        assert response.status_code == 401
    real = "Basic " + base64.b64encode(f"{service_client.client_id}:{service_client.client_secret}".encode()).decode()
    statuses = [client.post("/o/token/", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=real,
                            REMOTE_ADDR=f"10.2.0.{n}").status_code for n in range(4)]
    # The real client's own three, then its own limit (per client, across addresses).
    assert statuses == [200, 200, 200, 429]


@pytest.mark.django_db
def test_a_public_client_is_limited_per_address_only(limited, client, public_client):
    # No secret: every user of a mobile app would otherwise share one limit.
    for n in range(6):
        response = client.post("/o/token/", {"grant_type": "authorization_code", "client_id": public_client.client_id,
                                             "code": "x", "code_verifier": "y" * 43}, REMOTE_ADDR=f"10.3.0.{n}")
        assert response.status_code == 400


@pytest.mark.django_db
def test_it_limits_an_address_whatever_client_it_names(limited, client):
    statuses = [_token(client, f"client-{n}").status_code for n in range(6)]
    assert statuses[:5] == [401] * 5
    assert statuses[5] == 429
    assert _token(client, "fresh", ip="10.9.9.9").status_code == 401  # another address is not affected


@pytest.mark.django_db
def test_it_limits_revocation_and_the_admin_api(limited, client):
    assert [client.post("/o/revoke_token/", {"token": "x"}, REMOTE_ADDR="10.0.1.1").status_code for _ in range(6)][-1] == 429
    answers = [client.get("/api/clients/", REMOTE_ADDR="10.0.1.2") for _ in range(5)]
    assert answers[-1].status_code == 429
    assert answers[-1].json()["error"] == "slow_down"
    assert "Retry-After" in answers[-1]


@pytest.mark.django_db
def test_it_answers_a_readable_page_on_sign_in_pages(limited, client):
    for _ in range(2):
        assert client.post("/login/dev/", REMOTE_ADDR="10.0.2.1").status_code != 429
    refused = client.post("/login/dev/", REMOTE_ADDR="10.0.2.1", HTTP_ACCEPT_LANGUAGE="en")
    assert refused.status_code == 429
    assert refused["Content-Type"].startswith("text/html")
    assert b"Too many attempts" in refused.content
    assert refused["X-Frame-Options"] == "DENY"
    assert int(refused["Retry-After"]) >= 1
    assert client.get("/complete/dev/", REMOTE_ADDR="10.0.2.1").status_code == 429
    # The login page itself and other pages are not limited.
    assert client.get("/login/", REMOTE_ADDR="10.0.2.1").status_code == 200


@pytest.mark.django_db
def test_it_lets_everything_through_when_turned_off(limited, client):
    limited.GATEHOUSE_RATE_LIMITS = False
    assert all(_token(client, "probe").status_code == 401 for _ in range(10))


@pytest.mark.django_db
def test_it_fails_open_with_a_warning_when_the_cache_is_down(limited, client, caplog, monkeypatch):
    from django.core.cache.backends.redis import RedisCache

    from idp import ratelimit

    monkeypatch.setattr(ratelimit, "cache", RedisCache("redis://127.0.0.1:1/0", {}))  # nothing listens on port 1
    with caplog.at_level(logging.WARNING, logger="idp.ratelimit"):
        statuses = [_token(client, "probe").status_code for _ in range(8)]
    assert statuses == [401] * 8
    assert any("rate limiting skipped" in record.getMessage() for record in caplog.records)


@pytest.mark.django_db
def test_it_counts_the_address_behind_a_trusted_proxy(limited, client):
    # FORWARDED_ALLOW_IPS defaults to 127.0.0.1: the proxy on the same machine (docs/deploy.md).
    for n in range(5):
        client.post("/o/token/", {"client_id": f"c{n}"}, REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.7")
    limited_one = client.post("/o/token/", {"client_id": "c9"}, REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.7")
    other = client.post("/o/token/", {"client_id": "c9"}, REMOTE_ADDR="127.0.0.1",
                        HTTP_X_FORWARDED_FOR="203.0.113.7, 198.51.100.2")
    assert limited_one.status_code == 429
    assert other.status_code != 429  # another person behind the same proxy


@pytest.mark.django_db
def test_it_ignores_x_forwarded_for_from_an_untrusted_sender(limited, client):
    statuses = [
        client.post("/o/token/", {"client_id": f"c{n}"}, REMOTE_ADDR="192.0.2.50", HTTP_X_FORWARDED_FOR=f"10.0.0.{n}").status_code
        for n in range(6)
    ]
    assert statuses[-1] == 429  # a new forged address each time does not escape the limit
