"""Federation's cast: a first-party native app allowed to exchange upstream tokens, and signed-in browsers."""

from __future__ import annotations

import pytest
from django.test import Client

from clients.services import client_register
from federation.models import TokenExchangeClient
from tests.conftest import TestClientApp
from tests.federation.upstream import KAKAO_APP_ID


@pytest.fixture
def native_app(db, settings) -> TestClientApp:
    """The company's own mobile app (public, trusted), allowed to exchange Kakao, Google and Facebook tokens."""
    settings.GATEHOUSE_KAKAO_APP_ID = KAKAO_APP_ID
    registered = client_register(name="Gatehouse mobile", redirect_uris=["http://127.0.0.1:7001/cb"],
                                 public=True, trusted=True)
    TokenExchangeClient.objects.create(application=registered.application)
    return TestClientApp(registered.application.client_id, "", "http://127.0.0.1:7001/cb", registered.application)


@pytest.fixture
def csrf_client() -> Client:
    """A browser whose forms must carry their CSRF token, as real ones do."""
    return Client(enforce_csrf_checks=True)
