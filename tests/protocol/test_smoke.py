from tests.conftest import approve_consent, authorize_url, dev_sign_in, exchange_code, query_of, verify_id_token


def test_it_signs_in_through_the_dev_upstream_and_issues_tokens(client, confidential_client):
    auth = authorize_url(confidential_client)
    first = client.get(auth.url)
    assert first.status_code == 302 and first["Location"].startswith("/login/")
    done = dev_sign_in(client, "carol@example.com", "Carol", next_url=auth.url)
    assert done.status_code == 302, done.content
    assert done["Location"] == auth.url
    location = approve_consent(client, auth.url)
    params = query_of(location)
    assert location.startswith(confidential_client.redirect_uri)
    assert params["state"] == auth.state and params["iss"] == "http://testserver"
    token = exchange_code(client, confidential_client, params["code"], auth.verifier)
    assert token.status_code == 200, token.content
    body = token.json()
    claims = verify_id_token(client, body["id_token"], audience=confidential_client.client_id, nonce=auth.nonce)
    print(claims)
    info = client.get("/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {body['access_token']}")
    print(info.status_code, info.content)
