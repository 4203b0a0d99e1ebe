"""`exampleclients`: register the two example apps of `make examples` (examples/), idempotently (DEBUG only)."""

from __future__ import annotations

import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from clients.models import Application
from clients.services import client_register, client_rotate_secret, client_update
from idp import keys

WEBAPP_NAME = "Example web app"
SPA_NAME = "Example single-page app"


def _fields(kind: str, url: str) -> dict:
    """What each example is registered with: everything a real internal app would register, too."""
    common = {
        "redirect_uris": [f"{url}/callback"],
        "backchannel_logout_uri": f"{url}/backchannel-logout",
        "homepage_url": f"{url}/",
        "scopes": ["openid", "profile", "email"],
    }
    if kind == "webapp":
        # A confidential server-side app: has a secret; the consent page is shown once, then remembered.
        return {**common, "post_logout_redirect_uris": [f"{url}/signed-out"], "brand_color": "#0B7285",
                "description": "A Django app using Authlib (examples/webapp)."}  # fmt: skip
    # A public client (no secret) whose access tokens are JWTs its API validates locally; first-party,
    # so no consent page.
    return {**common, "post_logout_redirect_uris": [f"{url}/"], "trusted": True, "brand_color": "#5F3DC4",
            "access_token_format": Application.AccessTokenFormat.JWT,
            "description": "Plain JavaScript in the browser and a small API (examples/spa)."}  # fmt: skip


class Command(BaseCommand):
    help = "Register (or update) the example web app and single-page app; prints their credentials as JSON."

    def add_arguments(self, parser):
        parser.add_argument("--webapp-url", required=True, help="e.g. http://127.0.0.1:8001")
        parser.add_argument("--spa-url", required=True, help="e.g. http://127.0.0.1:8002")

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("The example clients are for development (DEBUG=1) only.")
        keys.active_key()
        credentials = {}
        for kind, name, public in (("webapp", WEBAPP_NAME, False), ("spa", SPA_NAME, True)):
            fields = _fields(kind, options[f"{kind}_url"].rstrip("/"))
            application = Application.objects.filter(name=name).first()
            if application is None:
                registered = client_register(name=name, public=public, via="exampleclients", **fields)
                application, secret = registered.application, registered.client_secret
            else:
                # The ports may have changed since the last run.
                application = client_update(application=application, via="exampleclients", **fields)
                # Secrets are stored hashed and never shown twice: each run hands the web app a fresh one.
                secret = "" if public else client_rotate_secret(application=application, via="exampleclients")
            credentials[kind] = {"client_id": application.client_id, "client_secret": secret or None}
        self.stdout.write(json.dumps(credentials))
