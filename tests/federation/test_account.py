"""/account/: linked identities (provider, email, linked since, last used), connect another upstream,
unlink, delete the account; and what the admin shows of identities."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from social_django.models import UserSocialAuth

from idp.models import AuditEvent, User
from idp.services import user_create
from tests.conftest import authorize_url
from tests.federation.upstream import (
    callback,
    consent_and_exchange,
    federated_sign_in,
    forms_on,
    introspect,
    login_form,
    login_query,
    mock_google,
    mock_kakao,
    refresh,
    start_upstream,
    upstream,  # noqa: F401 (fixture)
    userinfo,
)

GOOGLE_SUB = "110000000000000000321"


def _form(client: Client, action: str) -> dict[str, str]:
    """The fields of the /account/ form posting to `action`, as the browser would send them."""
    for form in forms_on(client, "/account/"):
        if form["action"] == action:
            assert form["method"].lower() == "post"
            return form["fields"]
    raise AssertionError(f"no form to {action} on /account/")


def _has_form(client: Client, action: str) -> bool:
    return any(form["action"] == action for form in forms_on(client, "/account/"))


@pytest.fixture
def carol(confidential_client, upstream, csrf_client):
    """Carol, signed in with Kakao in a CSRF-checking browser (her only identity so far)."""
    federated_sign_in(csrf_client, confidential_client, upstream, "kakao", uid="5550001",
                      email="carol@example.com", name="Carol Park")
    return UserSocialAuth.objects.get(uid="5550001").user


def _connect_google(browser: Client, upstream, *, sub: str = GOOGLE_SUB, email: str = "carol@gmail.com"):
    """Press "Connect Google" on /account/ and come back from Google."""
    fields = _form(browser, "/login/google-oauth2/")
    assert fields["connect_backend"] == "google-oauth2"
    upstream.reset()
    mock_google(upstream, sub=sub, email=email)
    started = start_upstream(browser, "google-oauth2", fields)
    return callback(browser, "google-oauth2", code="4/connect-code", state=started.params["state"])


# ---------------------------------------------------------------------------------------------
# What the page shows
# ---------------------------------------------------------------------------------------------


def test_it_lists_linked_identities_with_provider_email_linked_since_and_last_used(carol, csrf_client):
    page = csrf_client.get("/account/").content.decode()

    section = page[page.index('id="identities"'):page.index('id="connected-apps"')]
    assert "Kakao" in section and "carol@example.com" in section
    assert re.search(r'class="linked-since" datetime="\d{4}-\d\d-\d\dT', section)
    assert re.search(r'class="last-used" datetime="\d{4}-\d\d-\d\dT', section)
    # The only identity cannot be removed, and the page says why.
    assert "cannot be removed" in section and "/unlink/" not in section
    # The other offered upstreams can be connected.
    for backend in ("google-oauth2", "facebook", "oidc"):
        assert f'action="/login/{backend}/"' in section
    assert 'action="/login/kakao/"' not in section


def test_it_requires_a_signed_in_person(client, db):
    response = client.get("/account/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


# ---------------------------------------------------------------------------------------------
# Connecting another upstream
# ---------------------------------------------------------------------------------------------


def test_it_connects_another_upstream_to_the_signed_in_person(carol, csrf_client, upstream):
    done = _connect_google(csrf_client, upstream)

    assert done.status_code == 302 and done["Location"] == "/account/#identities"
    assert sorted(carol.social_auth.values_list("provider", flat=True)) == ["google-oauth2", "kakao"]
    assert User.objects.count() == 1
    linked = AuditEvent.objects.get(event="identity.linked", provider="google-oauth2")
    assert linked.user == carol and linked.data == {"reason": "connected"}
    page = csrf_client.get("/account/").content.decode()
    assert "Your Google account is now linked." in page
    assert "carol@gmail.com" in page
    # Connecting is not signing in with Google: Carol's name and email stay as they were.
    carol.refresh_from_db()
    assert (carol.email, carol.name) == ("carol@example.com", "Carol Park")


def test_it_refuses_to_connect_an_upstream_account_linked_to_someone_else(carol, csrf_client, upstream, bob):
    UserSocialAuth.objects.create(user=bob, provider="google-oauth2", uid=GOOGLE_SUB, id_key="sub")

    done = _connect_google(csrf_client, upstream, email="bob@example.com")

    assert done.status_code == 409
    page = done.content.decode()
    assert "This Google account belongs to someone else" in page
    assert 'href="/account/"' in page
    assert list(carol.social_auth.values_list("provider", flat=True)) == ["kakao"]
    assert UserSocialAuth.objects.get(provider="google-oauth2").user == bob
    refused = AuditEvent.objects.get(event="identity.link_refused")
    assert (refused.user, refused.outcome, refused.provider) == (carol, "refused", "google-oauth2")
    # Carol is still signed in as herself.
    assert csrf_client.get("/account/").context["user"] == carol


def test_it_signs_in_as_the_other_account_from_the_login_page_instead_of_linking(
    carol, csrf_client, confidential_client, upstream
):
    # Someone else at Carol's computer presses "Continue with Google" on a client app's login page.
    auth = authorize_url(confidential_client)
    fields = login_form(csrf_client, login_query(auth.url), "google-oauth2")
    assert "connect_backend" not in fields
    upstream.reset()
    mock_google(upstream, sub=GOOGLE_SUB, email="dave@example.com", name="Dave Han")
    started = start_upstream(csrf_client, "google-oauth2", fields)

    done = callback(csrf_client, "google-oauth2", code="4/other", state=started.params["state"])

    assert done.status_code == 302 and done["Location"] == auth.url
    dave = UserSocialAuth.objects.get(provider="google-oauth2").user
    assert dave != carol and dave.name == "Dave Han"
    assert list(carol.social_auth.values_list("provider", flat=True)) == ["kakao"]
    # The session now belongs to Dave, and so would the authorization.
    csrf_client.handler.enforce_csrf_checks = False  # tests.conftest.approve_consent posts without the token
    tokens = consent_and_exchange(csrf_client, confidential_client, auth)
    assert userinfo(csrf_client, tokens.access_token).json()["sub"] == dave.sub


def test_it_returns_to_the_account_page_when_connecting_is_cancelled(carol, csrf_client, upstream):
    started = start_upstream(csrf_client, "google-oauth2", _form(csrf_client, "/login/google-oauth2/"))

    cancelled = callback(csrf_client, "google-oauth2", error="access_denied", state=started.params["state"])

    assert cancelled.status_code == 302 and cancelled["Location"] == "/account/#identities"
    assert "You cancelled signing in with Google." in csrf_client.get("/account/").content.decode()
    assert carol.social_auth.count() == 1


# ---------------------------------------------------------------------------------------------
# Unlinking
# ---------------------------------------------------------------------------------------------


def test_it_unlinks_an_identity_when_another_remains(carol, csrf_client, upstream):
    _connect_google(csrf_client, upstream)
    google = carol.social_auth.get(provider="google-oauth2")
    action = f"/account/identities/{google.pk}/unlink/"

    response = csrf_client.post(action, _form(csrf_client, action))

    assert response.status_code == 302 and response["Location"] == "/account/#identities"
    assert list(carol.social_auth.values_list("provider", flat=True)) == ["kakao"]
    unlinked = AuditEvent.objects.get(event="identity.unlinked")
    assert (unlinked.user, unlinked.provider, unlinked.outcome) == (carol, "google-oauth2", "success")
    assert "Google was removed from your sign-in methods." in csrf_client.get("/account/").content.decode()


def test_it_refuses_to_unlink_the_last_identity(carol, csrf_client):
    kakao = carol.social_auth.get()
    # The page offers no button for it; a hand-made request is refused all the same.
    token = _form(csrf_client, "/logout/")["csrfmiddlewaretoken"]

    response = csrf_client.post(f"/account/identities/{kakao.pk}/unlink/", {"csrfmiddlewaretoken": token})

    assert response.status_code == 302
    assert carol.social_auth.count() == 1
    assert "You cannot remove your only sign-in method" in csrf_client.get("/account/").content.decode()
    refused = AuditEvent.objects.get(event="identity.unlink_refused")
    assert (refused.user, refused.outcome) == (carol, "refused")


def test_it_cannot_unlink_someone_elses_identity(carol, csrf_client, bob):
    bobs = UserSocialAuth.objects.create(user=bob, provider="kakao", uid="5550002", id_key="id")
    UserSocialAuth.objects.create(user=bob, provider="facebook", uid="5550003", id_key="id")
    token = _form(csrf_client, "/logout/")["csrfmiddlewaretoken"]

    csrf_client.post(f"/account/identities/{bobs.pk}/unlink/", {"csrfmiddlewaretoken": token})

    assert bob.social_auth.count() == 2
    assert not AuditEvent.objects.filter(event="identity.unlinked").exists()


def test_it_requires_csrf_to_unlink(carol, csrf_client, upstream):
    _connect_google(csrf_client, upstream)
    google = carol.social_auth.get(provider="google-oauth2")

    response = csrf_client.post(f"/account/identities/{google.pk}/unlink/")

    assert response.status_code == 403
    assert carol.social_auth.count() == 2


# ---------------------------------------------------------------------------------------------
# Deleting the account
# ---------------------------------------------------------------------------------------------


def test_it_deletes_the_account_and_revokes_every_token(carol, csrf_client, confidential_client, upstream):
    # Carol uses a client app first: it holds her access and refresh tokens.
    auth = authorize_url(confidential_client)
    csrf_client.handler.enforce_csrf_checks = False  # tests.conftest.approve_consent posts without the token
    tokens = consent_and_exchange(csrf_client, confidential_client, auth)
    csrf_client.handler.enforce_csrf_checks = True
    assert introspect(csrf_client, confidential_client, tokens.access_token)["active"] is True
    sub = carol.sub

    response = csrf_client.post("/account/delete/", _form(csrf_client, "/account/delete/"))

    assert response.status_code == 302 and response["Location"] == "/login/"
    assert not User.objects.filter(pk=carol.pk).exists()
    assert not UserSocialAuth.objects.exists()
    assert introspect(csrf_client, confidential_client, tokens.access_token)["active"] is False
    assert refresh(csrf_client, confidential_client, tokens.refresh_token).json()["error"] == "invalid_grant"
    assert userinfo(csrf_client, tokens.access_token).status_code == 401
    # Signed out, too.
    assert csrf_client.get("/account/")["Location"].startswith("/login/")
    deleted = AuditEvent.objects.get(event="account.deleted")
    assert deleted.user is None and deleted.data == {"sub": sub}
    # Her earlier audit trail stays, detached from the deleted row.
    assert AuditEvent.objects.filter(event="login", provider="kakao", user=None).exists()


def test_it_does_not_delete_the_account_without_confirmation(carol, csrf_client):
    fields = _form(csrf_client, "/account/delete/")
    del fields["confirm"]

    response = csrf_client.post("/account/delete/", fields)

    assert response.status_code == 302
    assert User.objects.filter(pk=carol.pk).exists()
    assert not AuditEvent.objects.filter(event="account.deleted").exists()


def test_it_requires_post_to_delete_the_account(carol, csrf_client):
    assert csrf_client.get("/account/delete/").status_code == 405
    assert User.objects.filter(pk=carol.pk).exists()


# ---------------------------------------------------------------------------------------------
# The admin
# ---------------------------------------------------------------------------------------------


def test_it_shows_identities_in_the_admin_without_any_upstream_token(client, confidential_client, upstream):
    mock_kakao(upstream, kakao_id=5550009, email="erin@example.com")
    federated_sign_in(Client(), confidential_client, upstream, "kakao", uid="5550009", email="erin@example.com")
    identity = UserSocialAuth.objects.get()
    admin = user_create(email="root@example.com", nickname="root")
    admin.is_staff = admin.is_superuser = True
    admin.save()
    client.force_login(admin, backend="django.contrib.auth.backends.ModelBackend")

    listing = client.get("/admin/social_django/usersocialauth/")
    detail = client.get(f"/admin/social_django/usersocialauth/{identity.pk}/change/")

    assert listing.status_code == 200 and detail.status_code == 200
    for page in (listing.content.decode(), detail.content.decode()):
        assert "5550009" in page
        assert "kakao-access-token-abc" not in page and "kakao-refresh-token-xyz" not in page
        assert "access_token" not in page
    assert 'name="extra_data"' not in detail.content.decode()  # nothing editable by hand
