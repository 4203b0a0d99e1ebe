"""A database that does not answer: 503 with Retry-After, JSON on OAuth endpoints, a page elsewhere (idp/errors.py)."""

from __future__ import annotations

import pytest
from django.db import OperationalError
from django.db.backends.utils import CursorWrapper
from django.test import Client


@pytest.fixture
def database_down(settings, monkeypatch):
    settings.DEBUG = False  # handler500 answers only with DEBUG off, as in production

    def refuse(self, *args, **kwargs):
        raise OperationalError("connection to server at 127.0.0.1, port 5432 failed: Connection refused")

    monkeypatch.setattr(CursorWrapper, "_execute", refuse)
    monkeypatch.setattr(CursorWrapper, "_executemany", refuse)


@pytest.mark.django_db
def test_it_answers_503_json_on_the_token_endpoint(confidential_client, database_down):
    response = Client(raise_request_exception=False).post(
        "/o/token/", {"grant_type": "client_credentials", "client_id": confidential_client.client_id,
                      "client_secret": confidential_client.client_secret})  # fmt: skip
    assert response.status_code == 503
    assert response.json()["error"] == "temporarily_unavailable"
    assert response["Retry-After"] == "5"


@pytest.mark.django_db
def test_it_answers_a_readable_page_when_the_session_cannot_be_read(database_down):
    client = Client(raise_request_exception=False, HTTP_ACCEPT_LANGUAGE="en")
    client.cookies["sessionid"] = "s" * 32  # the session middleware's read fails, not the view
    response = client.get("/account/")
    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/html")
    assert b"briefly unavailable" in response.content
    assert "Retry-After" in response


@pytest.mark.django_db
def test_it_still_answers_500_to_other_errors(settings, monkeypatch):
    settings.DEBUG = False

    def broken(self, *args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(CursorWrapper, "_execute", broken)
    response = Client(raise_request_exception=False).post("/o/token/", {"grant_type": "client_credentials",
                                                                        "client_id": "x", "client_secret": "y"})
    assert response.status_code == 500
    assert response.json()["error"] == "server_error"


@pytest.mark.django_db
def test_it_serves_again_by_itself_when_the_database_is_back(service_client, settings, monkeypatch):
    settings.DEBUG = False
    data = {"grant_type": "client_credentials", "client_id": service_client.client_id,
            "client_secret": service_client.client_secret}  # fmt: skip

    def refuse(self, *args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(CursorWrapper, "_execute", refuse)
    client = Client(raise_request_exception=False)
    assert client.get("/healthz").status_code == 503
    assert client.post("/o/token/", data).status_code == 503
    monkeypatch.undo()  # the database answers again: no restart, no manual step
    assert client.get("/healthz").status_code == 200
    response = client.post("/o/token/", data)
    assert response.status_code == 200 and response.json()["access_token"]
