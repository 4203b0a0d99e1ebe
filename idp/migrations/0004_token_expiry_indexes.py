"""Indexes for `cleartokens`: it selects expired rows by `expires` (and revoked refresh tokens by `revoked`).

django-oauth-toolkit's tables have no index on these columns, so each batch of the cleanup scanned the
whole table (bench/run.py measures deleting a million expired tokens). Every lookup on the request path
(token checksum, code, jti, token family, the foreign keys) is already indexed by DOT's own migrations.
The tables are DOT's, so the indexes are plain SQL that both SQLite and PostgreSQL understand.
"""

from django.db import migrations

INDEXES = [
    ("gatehouse_accesstoken_expires", "oauth2_provider_accesstoken", "expires"),
    ("gatehouse_idtoken_expires", "oauth2_provider_idtoken", "expires"),
    ("gatehouse_grant_expires", "oauth2_provider_grant", "expires"),
    ("gatehouse_refreshtoken_revoked", "oauth2_provider_refreshtoken", "revoked"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("idp", "0003_session_authorization_logout_delivery"),
        ("oauth2_provider", "0022_refreshtoken_token_family_index"),
    ]

    operations = [
        migrations.RunSQL(
            sql=f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({column})",
            reverse_sql=f"DROP INDEX IF EXISTS {name}",
        )
        for name, table, column in INDEXES
    ]
