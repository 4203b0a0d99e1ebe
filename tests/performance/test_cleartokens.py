"""`cleartokens` deletes what django-oauth-toolkit would, in batches, without loading rows (idp/cleanup.py)."""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from oauth2_provider.models import (
    get_access_token_model,
    get_grant_model,
    get_id_token_model,
    get_refresh_token_model,
    set_token_value,
)

from idp.models import AuditEvent

AccessToken, RefreshToken = get_access_token_model(), get_refresh_token_model()
IDToken, Grant = get_id_token_model(), get_grant_model()


def _access(app, user, *, expires_in: timedelta, id_token=None) -> AccessToken:
    token = AccessToken(user=user, application=app, scope="openid", expires=timezone.now() + expires_in,
                        id_token=id_token)
    set_token_value(token, secrets.token_urlsafe(20))
    token.save()
    return token


def _refresh(app, user, access, *, revoked=None) -> RefreshToken:
    token = RefreshToken(user=user, application=app, access_token=access, token_family=uuid.uuid4(), revoked=revoked)
    set_token_value(token, secrets.token_urlsafe(20))
    token.save()
    return token


@pytest.fixture
def app(confidential_client):
    return confidential_client.application


def test_it_deletes_expired_access_tokens_in_batches(settings, app, alice, capsys):
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "CLEAR_EXPIRED_TOKENS_BATCH_SIZE": 3,
                                "CLEAR_EXPIRED_TOKENS_BATCH_INTERVAL": 0}
    for _ in range(7):
        _access(app, alice, expires_in=-timedelta(minutes=1))
    live = _access(app, alice, expires_in=timedelta(hours=1))
    call_command("cleartokens")
    assert list(AccessToken.objects.all()) == [live]
    out = capsys.readouterr().out
    assert "7 expired access tokens deleted" in out
    assert "3 batches" in out  # 3 + 3 + 1


def test_it_keeps_an_expired_access_token_whose_refresh_token_is_alive(app, alice):
    expired = _access(app, alice, expires_in=-timedelta(minutes=1))
    refresh = _refresh(app, alice, expired)
    call_command("cleartokens")
    assert AccessToken.objects.filter(pk=expired.pk).exists()
    assert RefreshToken.objects.filter(pk=refresh.pk).exists()


def test_it_keeps_rotated_refresh_tokens_until_their_family_expires(app, alice):
    # RFC 9700 §4.14.2: the revoked predecessor is how a replay is recognised.
    current = _access(app, alice, expires_in=timedelta(hours=1))
    rotated = _refresh(app, alice, None, revoked=timezone.now() - timedelta(minutes=5))
    current.source_refresh_token = rotated
    current.save()
    call_command("cleartokens")
    assert RefreshToken.objects.filter(pk=rotated.pk).exists()


def test_it_deletes_refresh_tokens_past_their_lifetime_and_unlinks_their_successors(settings, app, alice):
    lifetime = settings.OAUTH2_PROVIDER["REFRESH_TOKEN_EXPIRE_SECONDS"]
    ancient = _access(app, alice, expires_in=-timedelta(seconds=lifetime + 60))
    old_refresh = _refresh(app, alice, ancient)
    successor = _access(app, alice, expires_in=timedelta(hours=1))
    successor.source_refresh_token = old_refresh
    successor.save()
    call_command("cleartokens")
    assert not RefreshToken.objects.filter(pk=old_refresh.pk).exists()
    assert not AccessToken.objects.filter(pk=ancient.pk).exists()
    successor.refresh_from_db()
    assert successor.source_refresh_token is None


def test_it_deletes_expired_id_tokens_and_codes_but_not_an_id_token_in_use(app, alice):
    now = timezone.now()
    unused = IDToken.objects.create(user=alice, application=app, scope="openid", expires=now - timedelta(minutes=1))
    in_use = IDToken.objects.create(user=alice, application=app, scope="openid", expires=now - timedelta(minutes=1))
    holder = _access(app, alice, expires_in=timedelta(hours=1), id_token=in_use)
    Grant.objects.create(application=app, user=alice, code="old", expires=now - timedelta(seconds=1),
                         redirect_uri=app.redirect_uris.split()[0], scope="openid")
    fresh = Grant.objects.create(application=app, user=alice, code="fresh", expires=now + timedelta(seconds=60),
                                 redirect_uri=app.redirect_uris.split()[0], scope="openid")
    call_command("cleartokens")
    assert not IDToken.objects.filter(pk=unused.pk).exists()
    assert IDToken.objects.filter(pk=in_use.pk).exists() and AccessToken.objects.filter(pk=holder.pk).exists()
    assert list(Grant.objects.all()) == [fresh]


def test_it_reads_only_primary_keys_per_batch(settings, app, alice):
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "CLEAR_EXPIRED_TOKENS_BATCH_SIZE": 100,
                                "CLEAR_EXPIRED_TOKENS_BATCH_INTERVAL": 0}
    for _ in range(50):
        _access(app, alice, expires_in=-timedelta(minutes=1))
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        call_command("cleartokens")
    selects = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("SELECT")]
    # Primary keys only: never the token rows themselves (what makes Django's delete() slow).
    assert all(sql.startswith(('SELECT "oauth2_provider_', 'SELECT "idp_redeemedcode"."id"', 'SELECT 1')) for sql in selects)
    assert not any('"oauth2_provider_accesstoken"."scope"' in sql for sql in selects)


def _events(ages_in_days: list[int]) -> list:
    events = [AuditEvent.objects.create(event="login") for _ in ages_in_days]
    for event, age in zip(events, ages_in_days):
        AuditEvent.objects.filter(pk=event.pk).update(created=timezone.now() - timedelta(days=age, minutes=1))
    return events


@pytest.mark.django_db
def test_it_keeps_the_audit_log_for_ever_by_default(settings, capsys):
    settings.GATEHOUSE_AUDIT_RETENTION_DAYS = 0
    _events([1, 400, 4000])
    call_command("cleartokens")
    assert AuditEvent.objects.count() == 3
    assert "audit" not in capsys.readouterr().out


@pytest.mark.django_db
def test_it_deletes_audit_events_past_the_retention_period(settings, capsys):
    settings.GATEHOUSE_AUDIT_RETENTION_DAYS = 90
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "CLEAR_EXPIRED_TOKENS_BATCH_SIZE": 2,
                                "CLEAR_EXPIRED_TOKENS_BATCH_INTERVAL": 0}
    kept = _events([0, 89])
    _events([90, 91, 365, 1000, 3000])
    call_command("cleartokens")
    assert set(AuditEvent.objects.values_list("pk", flat=True)) == {event.pk for event in kept}
    assert "5 audit events older than 90 days deleted" in capsys.readouterr().out
