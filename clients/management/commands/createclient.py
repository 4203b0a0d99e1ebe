"""`createclient`: register a client app from the command line (INTERFACE.md)."""

from __future__ import annotations

import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from clients.models import Application
from clients.services import GRANTS, client_register


class Command(BaseCommand):
    help = "Register a client app. Prints its client id and, for confidential clients, its secret, once."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        parser.add_argument("--redirect-uri", action="append", default=[], dest="redirect_uris")
        parser.add_argument("--public", action="store_true", help="a public client (SPA, native app): no secret")
        parser.add_argument("--trusted", action="store_true", help="a first-party app: no consent page")
        parser.add_argument("--grant", choices=sorted(GRANTS), default="authorization-code")
        parser.add_argument("--scope", help='scopes the client may ask for, e.g. "openid profile email"')
        parser.add_argument("--logo-url", default="")
        parser.add_argument("--homepage-url", default="")
        parser.add_argument("--backchannel-logout-uri", default="")
        parser.add_argument("--post-logout-redirect-uri", action="append", default=[], dest="post_logout_redirect_uris")
        parser.add_argument(
            "--access-token-format", choices=sorted(Application.AccessTokenFormat.values), default="opaque",
            help="opaque (introspection) or jwt (RFC 9068, validated locally by resource servers)",
        )
        parser.add_argument("--json", action="store_true", help="print exactly one JSON object")

    def handle(self, *args, **options):
        try:
            registered = client_register(
                name=options["name"],
                redirect_uris=options["redirect_uris"],
                grant=options["grant"],
                public=options["public"],
                trusted=options["trusted"],
                scopes=options["scope"].split() if options["scope"] is not None else None,
                logo_url=options["logo_url"],
                homepage_url=options["homepage_url"],
                backchannel_logout_uri=options["backchannel_logout_uri"],
                post_logout_redirect_uris=options["post_logout_redirect_uris"],
                access_token_format=options["access_token_format"],
                via="createclient",
            )
        except ValidationError as exc:
            raise CommandError("; ".join(_messages(exc))) from None
        client_id = registered.application.client_id
        secret = registered.client_secret or None
        if options["json"]:
            self.stdout.write(json.dumps({"client_id": client_id, "client_secret": secret}))
            return
        self.stdout.write(f"client_id:     {client_id}")
        if secret:
            self.stdout.write(f"client_secret: {secret}")
            self.stdout.write("The secret is shown only now; Gatehouse keeps only its hash.")


def _messages(exc: ValidationError) -> list[str]:
    if hasattr(exc, "message_dict"):
        return [f"{field}: {msg}" for field, msgs in exc.message_dict.items() for msg in msgs]
    return list(exc.messages)
