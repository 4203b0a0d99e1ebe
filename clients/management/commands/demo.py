"""`demo`: what `make run` prints: a demo client and a ready-to-click authorization URL."""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import urlencode

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from clients.models import Application
from clients.services import client_register, client_rotate_secret
from idp import keys

DEMO_NAME = "Gatehouse demo app"


class Command(BaseCommand):
    help = "Make sure a signing key and the demo client exist, and print how to sign in to the demo (DEBUG only)."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("The demo client is for development (DEBUG=1) only.")
        keys.active_key()
        redirect_uri = settings.GATEHOUSE_URL + reverse("demo-callback")
        application = Application.objects.filter(name=DEMO_NAME).first()
        if application is None:
            registered = client_register(name=DEMO_NAME, redirect_uris=[redirect_uri])
            application, secret = registered.application, registered.client_secret
        else:
            # Secrets are stored hashed and never shown twice: each run hands out a fresh one.
            secret = client_rotate_secret(application=application)
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        query = urlencode({
            "response_type": "code", "client_id": application.client_id, "redirect_uri": redirect_uri,
            "scope": "openid profile email", "state": secrets.token_urlsafe(8), "nonce": secrets.token_urlsafe(8),
            "code_challenge": challenge, "code_challenge_method": "S256",
        })  # fmt: skip
        self.stdout.write(
            "\n".join([
                "",
                "Gatehouse demo client",
                f"  client_id:     {application.client_id}",
                f"  client_secret: {secret}   (new on every start; only its hash is stored)",
                f"  code_verifier: {verifier}",
                "",
                "Open this URL to sign in through the development upstream:",
                f"  {settings.GATEHOUSE_URL}{reverse('oauth2_provider:authorize')}?{query}",
                "",
            ])
        )  # fmt: skip
