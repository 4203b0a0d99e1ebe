"""Test settings: the real settings module, with every upstream configured (their HTTP is mocked)."""

import os

os.environ.update(
    {
        "DEBUG": "1",
        "GATEHOUSE_DEV_LOGIN": "1",
        "GATEHOUSE_TESTING": "1",
        "GATEHOUSE_URL": "http://testserver",
        "ALLOWED_HOSTS": "testserver,localhost,127.0.0.1",
        "SECRET_KEY": "test-secret-key-not-for-production-" + "x" * 20,
        "SOCIAL_AUTH_GOOGLE_OAUTH2_KEY": "google-client-id",
        "SOCIAL_AUTH_GOOGLE_OAUTH2_SECRET": "google-client-secret",
        "SOCIAL_AUTH_KAKAO_KEY": "kakao-rest-api-key",
        "SOCIAL_AUTH_KAKAO_SECRET": "kakao-client-secret",
        "SOCIAL_AUTH_FACEBOOK_KEY": "facebook-app-id",
        "SOCIAL_AUTH_FACEBOOK_SECRET": "facebook-app-secret",
        "SOCIAL_AUTH_OIDC_OIDC_ENDPOINT": "https://sso.example.com",
        "SOCIAL_AUTH_OIDC_KEY": "oidc-client-id",
        "SOCIAL_AUTH_OIDC_SECRET": "oidc-client-secret",
        "GATEHOUSE_OIDC_UPSTREAM_NAME": "Example SSO",
    }
)

from idp.settings import *  # noqa: E402,F403

# Fast hashing for the few superusers tests create.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", "clients.hashers.ClientSecretHasher"]

# Every test shares 127.0.0.1 and one process-wide cache: limits are off here and turned on by the tests
# that prove them (tests/idp/test_ratelimit.py).
GATEHOUSE_RATE_LIMITS = False
