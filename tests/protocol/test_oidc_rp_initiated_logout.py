"""OpenID Connect RP-Initiated Logout 1.0 at the discovery's end_session_endpoint."""

from __future__ import annotations

import pytest

from urllib.parse import urlencode

from tests.conftest import approve_consent, authorize_url, dev_sign_in, exchange_code, query_of


def _id_token(client, app) -> str:
    dev_sign_in(client, "carol@example.com", "Carol")
    auth = authorize_url(app)
    params = query_of(approve_consent(client, auth.url))
    return exchange_code(client, app, params["code"], auth.verifier).json()["id_token"]


@pytest.mark.spec("OIDC RP-Initiated Logout", "2", "Logout request with id_token_hint ends the session after confirmation")
def test_it_ends_the_session_after_the_confirmation_form(client, confidential_client):
    token = _id_token(client, confidential_client)
    url = "/o/logout/?" + urlencode({"id_token_hint": token, "client_id": confidential_client.client_id})
    page = client.get(url)
    assert page.status_code == 200
    assert b'name="allow"' in page.content and b"Wiki" in page.content
    form = page.context["form"]
    data = {n: form[n].value() for n in form.fields if form[n].value()}
    response = client.post(url, {**data, "allow": "1"})
    assert response.status_code == 302
    assert client.get("/account/").status_code == 302  # signed out: back to the login page


@pytest.mark.spec("OIDC RP-Initiated Logout", "2", "The end-user is asked whether to log out")
def test_it_keeps_the_session_when_the_person_declines(client, confidential_client):
    token = _id_token(client, confidential_client)
    url = "/o/logout/?" + urlencode({"id_token_hint": token})
    form = client.get(url).context["form"]
    client.post(url, {n: form[n].value() for n in form.fields if form[n].value()})
    assert client.get("/account/").status_code == 200


@pytest.mark.spec("OIDC RP-Initiated Logout", "3", "post_logout_redirect_uri must be registered")
def test_it_never_redirects_to_an_unregistered_post_logout_uri(client, confidential_client):
    token = _id_token(client, confidential_client)
    url = "/o/logout/?" + urlencode({"id_token_hint": token, "post_logout_redirect_uri": "https://evil.example.net/"})
    response = client.get(url)
    assert "evil.example.net" not in response.get("Location", "")
    assert response.status_code == 400


@pytest.mark.spec("OIDC RP-Initiated Logout", "2", "id_token_hint verified across key rotation")
def test_it_verifies_an_id_token_hint_signed_before_a_key_rotation(client, confidential_client):
    from django.core.management import call_command

    token = _id_token(client, confidential_client)
    call_command("rotatekeys", stdout=open("/dev/null", "w"))
    page = client.get("/o/logout/?" + urlencode({"id_token_hint": token}))
    assert page.status_code == 200 and page.context.get("error") is None
