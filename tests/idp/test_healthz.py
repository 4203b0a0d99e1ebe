from __future__ import annotations

from unittest import mock

import pytest
from django.db import OperationalError


@pytest.mark.django_db
def test_it_answers_200_when_the_database_answers(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_it_answers_503_when_the_database_is_down(client):
    with mock.patch("django.db.backends.utils.CursorWrapper.execute", side_effect=OperationalError("down")):
        response = client.get("/healthz")
    assert response.status_code == 503 and response.json()["database"] == "down"
