"""idp.prebuilt.select_one must return exactly what the ORM's select_related lookup returns."""

from __future__ import annotations

import base64
import hashlib

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from oauth2_provider.models import get_access_token_model

from idp.prebuilt import select_one
from tests.conftest import approve_consent, authorize_url, dev_sign_in, exchange_code, query_of

AccessToken = get_access_token_model()


def _same(fast, orm) -> None:
    for field in type(orm)._meta.concrete_fields:
        if field.attname == "logo_image":
            continue
        assert getattr(fast, field.attname) == getattr(orm, field.attname), field.name
        assert type(getattr(fast, field.attname)) is type(getattr(orm, field.attname)), field.name


def _lookup(token: str):
    checksum = hashlib.sha256(token.encode()).hexdigest()
    with CaptureQueriesContext(connection) as captured:
        fast = select_one(AccessToken, "token_checksum", checksum, related=("application", "user"), defer=("logo_image",))
        fast.application, fast.user  # already there: no further query
    orm = AccessToken.objects.select_related("application", "user").get(token_checksum=checksum)
    assert len(captured.captured_queries) == 1
    return fast, orm


@pytest.mark.django_db
def test_a_persons_token_comes_with_its_client_and_person(client, confidential_client):
    dev_sign_in(client, "dave@example.com", "Dave")
    auth = authorize_url(confidential_client)
    code = query_of(approve_consent(client, auth.url))["code"]
    token = exchange_code(client, confidential_client, code, auth.verifier).json()["access_token"]
    fast, orm = _lookup(token)
    _same(fast, orm)
    _same(fast.application, orm.application)
    _same(fast.user, orm.user)
    assert fast.application.get_deferred_fields() == {"logo_image"}
    assert fast.is_valid(["openid"])


@pytest.mark.django_db
def test_a_client_credentials_token_has_no_person(client, service_client):
    basic = "Basic " + base64.b64encode(f"{service_client.client_id}:{service_client.client_secret}".encode()).decode()
    token = client.post("/o/token/", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=basic).json()["access_token"]
    fast, orm = _lookup(token)
    assert fast.user is None and fast.user_id is None
    _same(fast, orm)
    _same(fast.application, orm.application)


@pytest.mark.django_db
def test_no_row_is_none():
    assert select_one(AccessToken, "token_checksum", "0" * 64, related=("application", "user")) is None
