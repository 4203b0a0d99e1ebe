"""`cleartokens`: django-oauth-toolkit's command of the same name, in batches that scale (idp/cleanup.py).

Run it from cron (hourly is plenty). It also deletes audit events older than GATEHOUSE_AUDIT_RETENTION_DAYS
(when set). Batch size and the pause between batches are
CLEAR_EXPIRED_TOKENS_BATCH_SIZE / _INTERVAL in OAUTH2_PROVIDER (idp/settings.py).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from idp.cleanup import audit_prune, tokens_clear_expired


class Command(BaseCommand):
    help = ("Delete expired and revoked tokens and expired authorization codes, and audit events past "
            "GATEHOUSE_AUDIT_RETENTION_DAYS, in batches.")

    def handle(self, *args, **options) -> None:
        for result in (tokens_clear_expired(), audit_prune()):
            for label, count in result.deleted.items():
                self.stdout.write(f"{count} {label} deleted")
            if result.batches:
                self.stdout.write(f"{result.batches} batches, the longest {result.longest_batch_seconds:.2f} s")
