"""`rotatekeys`: a new signing key becomes active everywhere within a minute (INTERFACE.md)."""

from django.core.management.base import BaseCommand

from idp import keys


class Command(BaseCommand):
    help = "Activate a new signing key. Retired keys stay in the JWKS until the tokens they signed expire."

    def handle(self, *args, **options):
        row = keys.key_create(activate=True)
        self.stdout.write(
            f"New signing key {row.kid} is active. Running nodes pick it up within {keys.KEYSET_TTL_SECONDS} s."
        )
