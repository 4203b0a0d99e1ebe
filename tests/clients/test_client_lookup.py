"""`Application.objects.get(client_id=...)` (every token request's lookup) takes a prebuilt statement;
what it returns must be exactly what the ORM would have built."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.models import QuerySet
from django.db.models.functions import Concat
from django.test.utils import CaptureQueriesContext

from clients.models import Application


@pytest.mark.django_db
def test_the_fast_lookup_returns_what_the_orm_returns(confidential_client, public_client, trusted_client):
    for app in (confidential_client, public_client, trusted_client):
        with CaptureQueriesContext(connection) as captured:
            fast = Application.objects.get(client_id=app.client_id)
        orm = QuerySet(Application).get(client_id=app.client_id)
        assert len(captured.captured_queries) == 1 and "logo_image" not in captured.captured_queries[0]["sql"]
        for field in Application._meta.concrete_fields:
            if field.name != "logo_image":
                assert getattr(fast, field.attname) == getattr(orm, field.attname), field.name
                assert type(getattr(fast, field.attname)) is type(getattr(orm, field.attname)), field.name
        assert fast.get_deferred_fields() == {"logo_image"}
        assert fast.logo_image == orm.logo_image  # loaded on demand
        assert not fast._state.adding and fast._state.db == "default"


@pytest.mark.django_db
def test_an_unknown_client_id_is_does_not_exist():
    with pytest.raises(Application.DoesNotExist):
        Application.objects.get(client_id="no-such-client")


@pytest.mark.django_db
def test_other_lookups_take_the_orms_path(confidential_client):
    assert Application.objects.filter(name="Wiki").get(client_id=confidential_client.client_id).name == "Wiki"
    assert Application.objects.get(pk=confidential_client.application.pk).client_id == confidential_client.client_id
    with pytest.raises(Application.DoesNotExist):
        Application.objects.filter(name="Other").get(client_id=confidential_client.client_id)
    annotated = Application.objects.annotate(twice=Concat("name", "name")).get(client_id=confidential_client.client_id)
    assert annotated.twice == "WikiWiki"
    with_owner = Application.objects.select_related("user").get(client_id=confidential_client.client_id)
    assert "user" in with_owner._state.fields_cache


@pytest.mark.django_db
def test_a_fetched_client_saves_without_losing_its_logo(confidential_client):
    Application.objects.filter(pk=confidential_client.application.pk).update(logo_image=b"PNG", logo_content_type="image/png")
    app = Application.objects.get(client_id=confidential_client.client_id)
    app.name = "Wiki 2"
    app.save()
    assert bytes(QuerySet(Application).get(pk=app.pk).logo_image) == b"PNG"
