"""Redis down: rate limiting fails open and nothing else breaks (sessions fall back to the database)."""

from __future__ import annotations

import pytest

from tests.conftest import approve_consent, authorize_url, dev_sign_in, exchange_code, query_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def redis_down(settings):
    # A Redis URL nothing listens on, with the session engine and limits used when REDIS_URL is set.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    settings.SESSION_ENGINE = "idp.sessions.cached_db"
    settings.GATEHOUSE_RATE_LIMITS = True


def test_it_signs_in_issues_tokens_and_signs_out_without_redis(client, confidential_client, redis_down):
    dev_sign_in(client, "carol@example.com", "Carol")
    auth = authorize_url(confidential_client)
    params = query_of(approve_consent(client, auth.url))
    response = exchange_code(client, confidential_client, params["code"], auth.verifier)
    assert response.status_code == 200, response.content
    assert client.get("/account/").status_code == 200
    assert client.post("/logout/").status_code == 302
    assert client.get("/account/").status_code == 302  # signed out, and the session is gone
