"""Deleting expired tokens in batches that never load the rows (`manage.py cleartokens`).

django-oauth-toolkit's clear_expired() decides well *what* may go (and we keep its rules, below), but it
deletes each batch with QuerySet.delete(): Django then loads all 10,000 rows as model instances, and the
rows of every related table, to emulate ON DELETE in Python. On a table of a million expired tokens that
ran at about a thousand rows a second - a cleanup that never catches up. Here each batch reads only the
primary keys, sets the few references to them to NULL, and deletes, in one short transaction.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import models, router, transaction
from django.utils import timezone
from oauth2_provider.models import (
    get_access_token_model,
    get_grant_model,
    get_id_token_model,
    get_refresh_token_model,
    refresh_token_expire_timedelta,
)
from oauth2_provider.settings import oauth2_settings

from idp.models import AuditEvent, RedeemedCode

logger = logging.getLogger(__name__)


@dataclass
class Cleared:
    deleted: dict[str, int] = field(default_factory=dict)
    batches: int = 0
    longest_batch_seconds: float = 0.0


def _delete_in_batches(model: type[models.Model], condition: models.Q, result: Cleared, *, label: str) -> None:
    batch_size = oauth2_settings.CLEAR_EXPIRED_TOKENS_BATCH_SIZE
    pause = oauth2_settings.CLEAR_EXPIRED_TOKENS_BATCH_INTERVAL
    using = router.db_for_write(model)
    deleted = 0
    while True:
        started = time.monotonic()
        with transaction.atomic(using=using):
            ids = list(model.objects.using(using).filter(condition).values_list("pk", flat=True)[:batch_size])
            if not ids:
                break
            for relation in model._meta.related_objects:
                referencing = relation.related_model.objects.using(using).filter(**{f"{relation.field.name}__in": ids})
                if relation.on_delete is models.SET_NULL:
                    referencing.update(**{relation.field.name: None})
                elif referencing.exists():
                    # A CASCADE the conditions below are meant to exclude (an ID token whose access token
                    # still exists): never delete more than DOT would. Leave the whole batch to Django.
                    model.objects.using(using).filter(pk__in=ids).delete()
                    break
            else:
                model.objects.using(using).filter(pk__in=ids)._raw_delete(using)
        deleted += len(ids)
        result.batches += 1
        result.longest_batch_seconds = max(result.longest_batch_seconds, time.monotonic() - started)
        if len(ids) < batch_size:
            break
        if pause:
            time.sleep(pause)
    result.deleted[label] = deleted
    logger.info("cleartokens: %s %s deleted", deleted, label)


def tokens_clear_expired(*, now=None) -> Cleared:
    """What DOT's clear_expired() deletes (3.4.1, same conditions and order), in batches of primary keys."""
    now = now or timezone.now()
    AccessToken, RefreshToken = get_access_token_model(), get_refresh_token_model()
    result = Cleared()
    refresh_expire_at = None
    expire_delta = refresh_token_expire_timedelta()
    if expire_delta:
        refresh_expire_at = now - expire_delta
    revoked_before = now - timedelta(seconds=oauth2_settings.REFRESH_TOKEN_GRACE_PERIOD_SECONDS or 0)
    if oauth2_settings.REFRESH_TOKEN_REUSE_PROTECTION:
        # A rotated (revoked) refresh token is what reveals a replay: keep it until the family expires.
        revoked_before = refresh_expire_at
    if revoked_before:
        _delete_in_batches(RefreshToken, models.Q(revoked__lte=revoked_before), result, label="revoked refresh tokens")
    _delete_in_batches(RefreshToken, models.Q(revoked__isnull=True, access_token__isnull=True), result,
                       label="orphaned refresh tokens")
    if refresh_expire_at:
        _delete_in_batches(RefreshToken, models.Q(revoked__isnull=True, access_token__expires__lte=refresh_expire_at),
                           result, label="expired refresh tokens")
    _delete_in_batches(AccessToken, models.Q(refresh_token__isnull=True, expires__lt=now), result,
                       label="expired access tokens")
    _delete_in_batches(get_id_token_model(), models.Q(access_token__isnull=True, expires__lt=now), result,
                       label="expired ID tokens")
    _delete_in_batches(get_grant_model(), models.Q(expires__lt=now), result, label="expired authorization codes")
    # A redeemed code is kept while a token it led to may still be alive (idp/codes.py): as long as a
    # refresh token lives, or an access token where there is none.
    keep = max(expire_delta or timedelta(0), timedelta(seconds=oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS))
    _delete_in_batches(RedeemedCode, models.Q(redeemed_at__lt=now - keep), result, label="redeemed authorization codes")
    return result


def audit_prune(*, now=None) -> Cleared:
    """Audit events older than GATEHOUSE_AUDIT_RETENTION_DAYS, in the same batches (0: none, ever).

    At scale the audit log grows by a row per sign-in and outgrows every other table within days
    (docs/scaling.md); a retention period keeps it bounded.
    """
    result = Cleared()
    days = settings.GATEHOUSE_AUDIT_RETENTION_DAYS
    if days:
        before = (now or timezone.now()) - timedelta(days=days)
        _delete_in_batches(AuditEvent, models.Q(created__lt=before), result, label=f"audit events older than {days} days")
    return result
