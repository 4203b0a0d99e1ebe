"""/metrics: who may read it, and that its counters follow real sign-ins, tokens and consent decisions."""

from __future__ import annotations

import ipaddress

import pytest
from django.test import Client, override_settings
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import approve_consent, authorize_url, consent_form, dev_sign_in, exchange_code, query_of

OUTSIDER = "203.0.113.7"


def scrape(client: Client) -> dict[tuple[str, frozenset], float]:
    response = client.get("/metrics")
    assert response.status_code == 200, response
    assert response["Content-Type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


class TestAccess:
    def test_it_serves_metrics_to_loopback_by_default(self, client):
        response = client.get("/metrics")
        assert response.status_code == 200
        assert b"gatehouse_http_responses_total" in response.content
        assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]

    @override_settings(GATEHOUSE_METRICS_TOKEN="")
    def test_it_refuses_an_address_off_the_allow_list(self, client):
        response = client.get("/metrics", REMOTE_ADDR=OUTSIDER)
        assert response.status_code == 403
        assert b"gatehouse_" not in response.content

    @override_settings(GATEHOUSE_METRICS_TOKEN="")
    def test_it_refuses_a_request_that_came_through_the_proxy(self, client):
        # The proxy connects from loopback; the allow-list must not let the whole internet in through it.
        response = client.get("/metrics", HTTP_X_FORWARDED_FOR=OUTSIDER)
        assert response.status_code == 403

    @override_settings(GATEHOUSE_METRICS_ALLOW=[ipaddress.ip_network("10.0.0.0/8")])
    def test_it_follows_the_configured_allow_list(self, client):
        assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
        assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403

    @override_settings(GATEHOUSE_METRICS_TOKEN="scrape-token-" + "t" * 30, GATEHOUSE_METRICS_ALLOW=[])
    def test_it_requires_the_bearer_token_when_one_is_set(self, client):
        missing = client.get("/metrics", REMOTE_ADDR=OUTSIDER)
        assert missing.status_code == 401
        assert missing["WWW-Authenticate"].startswith("Bearer")
        wrong = client.get("/metrics", REMOTE_ADDR=OUTSIDER, HTTP_AUTHORIZATION="Bearer not-the-token")
        assert wrong.status_code == 401
        good = client.get("/metrics", REMOTE_ADDR=OUTSIDER, HTTP_AUTHORIZATION="Bearer scrape-token-" + "t" * 30)
        assert good.status_code == 200
        assert b"gatehouse_request_duration_seconds_bucket" in good.content

    @override_settings(GATEHOUSE_METRICS_TOKEN="scrape-token-" + "t" * 30)
    def test_it_refuses_a_wrong_token_even_from_an_allowed_address(self, client):
        response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer guessed")
        assert response.status_code == 401

    def test_it_refuses_post(self, client):
        assert client.post("/metrics").status_code == 405


@pytest.mark.django_db
class TestCounters:
    def test_it_counts_a_browser_sign_in_consent_and_code_exchange(
        self, client, confidential_client, django_capture_on_commit_callbacks
    ):
        before = scrape(client)
        auth = authorize_url(confidential_client)
        with django_capture_on_commit_callbacks(execute=True):
            dev_sign_in(client, "alice@example.com", name="Alice", next_url=auth.url)
        redirect = approve_consent(client, auth.url)
        tokens = exchange_code(client, confidential_client, query_of(redirect)["code"], auth.verifier)
        assert tokens.status_code == 200
        after = scrape(client)

        def delta(name: str, **labels: str) -> float:
            return value(after, name, **labels) - value(before, name, **labels)

        assert delta("gatehouse_sign_ins_total", provider="dev", via="browser", outcome="success") == 1
        assert delta("gatehouse_consent_decisions_total", decision="allowed") == 1
        assert delta("gatehouse_tokens_issued_total", grant_type="authorization_code") == 1
        assert delta("gatehouse_request_duration_seconds_count", view="oauth2_provider:token") == 1
        assert delta("gatehouse_http_responses_total", status_class="3xx") >= 3  # sign-in and consent redirects

    def test_it_counts_refreshes_and_remembered_consent(self, client, confidential_client):
        auth = authorize_url(confidential_client)
        dev_sign_in(client, "alice@example.com", next_url=auth.url)
        code = query_of(approve_consent(client, auth.url))["code"]
        refresh_token = exchange_code(client, confidential_client, code, auth.verifier).json()["refresh_token"]
        before = scrape(client)

        refreshed = client.post(
            "/o/token/",
            {
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
                "client_id": confidential_client.client_id,
                "client_secret": confidential_client.client_secret,
            },
        )
        assert refreshed.status_code == 200
        remembered = client.get(authorize_url(confidential_client).url)  # consent remembered: no page
        assert remembered.status_code == 302 and "code=" in remembered["Location"]
        after = scrape(client)

        assert value(after, "gatehouse_tokens_issued_total", grant_type="refresh_token") - value(
            before, "gatehouse_tokens_issued_total", grant_type="refresh_token"
        ) == 1
        assert value(after, "gatehouse_consent_decisions_total", decision="skipped") - value(
            before, "gatehouse_consent_decisions_total", decision="skipped"
        ) == 1
        assert value(after, "gatehouse_consent_decisions_total", decision="allowed") == value(
            before, "gatehouse_consent_decisions_total", decision="allowed"
        )

    def test_it_counts_a_denied_consent(self, client, confidential_client):
        auth = authorize_url(confidential_client)
        dev_sign_in(client, "bob@example.com", next_url=auth.url)
        page = client.get(auth.url)
        assert page.status_code == 200
        before = scrape(client)
        denied = client.post(auth.url, consent_form(page, allow=False))
        assert query_of(denied["Location"])["error"] == "access_denied"
        after = scrape(client)
        assert value(after, "gatehouse_consent_decisions_total", decision="denied") - value(
            before, "gatehouse_consent_decisions_total", decision="denied"
        ) == 1
        assert value(after, "gatehouse_consent_decisions_total", decision="allowed") == value(
            before, "gatehouse_consent_decisions_total", decision="allowed"
        )

    def test_it_counts_a_refused_sign_in(self, client, django_capture_on_commit_callbacks):
        before = scrape(client)
        with django_capture_on_commit_callbacks(execute=True):
            response = dev_sign_in(client, "not-an-email")
        assert response.status_code == 400
        after = scrape(client)
        assert value(after, "gatehouse_sign_ins_total", provider="dev", via="browser", outcome="refused") - value(
            before, "gatehouse_sign_ins_total", provider="dev", via="browser", outcome="refused"
        ) == 1
        assert value(after, "gatehouse_http_responses_total", status_class="4xx") > value(
            before, "gatehouse_http_responses_total", status_class="4xx"
        )

    def test_it_counts_client_credentials_but_not_refused_grants(self, client, service_client):
        before = scrape(client)
        ok = client.post(
            "/o/token/",
            {"grant_type": "client_credentials", "client_id": service_client.client_id,
             "client_secret": service_client.client_secret, "scope": "gatehouse:admin"},
        )  # fmt: skip
        assert ok.status_code == 200
        refused = client.post(
            "/o/token/",
            {"grant_type": "client_credentials", "client_id": service_client.client_id, "client_secret": "wrong"},
        )
        assert refused.status_code == 401
        made_up = client.post("/o/token/", {"grant_type": "x" * 40, "client_id": service_client.client_id})
        assert made_up.status_code >= 400
        after = scrape(client)
        assert value(after, "gatehouse_tokens_issued_total", grant_type="client_credentials") - value(
            before, "gatehouse_tokens_issued_total", grant_type="client_credentials"
        ) == 1
        # A made-up grant type never becomes a label of its own.
        assert not any("x" * 40 in str(labels) for _name, labels in after)
