"""Prometheus metrics at /metrics: sign-ins, tokens, consent decisions, responses and latency.

Counters live in prometheus_client. Under gunicorn each worker is its own process, so gunicorn.conf.py
sets PROMETHEUS_MULTIPROC_DIR: every worker writes its values to small memory-mapped files there and a
scrape of any worker adds up the files of all workers of that node (prometheus_client's multiprocess
mode). This costs no network round trip per request, unlike counters in Redis or the database. Each node
is scraped on its own; Prometheus sums across nodes.

What is counted comes from two places, not from calls sprinkled through the views:
- sign-ins from the audit trail (`idp.AuditEvent` rows, see `count_sign_in`), which the federation
  pipeline and its error middleware already write for every outcome;
- everything else from `idp.middleware.MetricsMiddleware`, which sees each request and its response.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from functools import cache
from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import multiprocess

SIGN_INS = Counter(
    "gatehouse_sign_ins_total",
    "Sign-ins through an upstream provider, by provider, way in (browser or token exchange) and outcome.",
    ["provider", "via", "outcome"],
)
TOKENS = Counter("gatehouse_tokens_issued_total", "Successful token responses at /o/token/, by grant type.", ["grant_type"])
CONSENT_DECISIONS = Counter(
    "gatehouse_consent_decisions_total",
    "Authorization requests answered: allowed or denied on the consent page, or skipped (remembered or trusted).",
    ["decision"],
)
RESPONSES = Counter("gatehouse_http_responses_total", "HTTP responses, by status class (2xx ... 5xx).", ["status_class"])
LATENCY = Histogram(
    "gatehouse_request_duration_seconds",
    "Time from the request reaching Django to the response leaving it, by view.",
    ["view"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

# Label values come from fixed lists, never from what a request says: anything else becomes "other",
# so a client cannot grow the number of time series by sending made-up grant types or providers.
GRANT_TYPES = {
    "authorization_code": "authorization_code",
    "refresh_token": "refresh_token",
    "client_credentials": "client_credentials",
    "urn:ietf:params:oauth:grant-type:token-exchange": "token_exchange",
}
SIGN_IN_EVENTS = {"login": "browser", "login.failed": "browser", "login.cancelled": "browser", "token_exchange": "token_exchange"}


@cache
def _providers() -> frozenset[str]:
    """The backend names of the upstreams this node offers (social-auth's `name` of each backend class)."""
    names = set()
    for path in settings.AUTHENTICATION_BACKENDS:
        name = getattr(import_string(path), "name", None)
        if isinstance(name, str):
            names.add(name)
    return frozenset(names)


def count_sign_in(sender, instance, created: bool, **kwargs) -> None:
    """post_save of AuditEvent: count sign-in outcomes, once the row (and the sign-in) is committed."""
    via = SIGN_IN_EVENTS.get(instance.event)
    if not created or via is None:
        return
    provider = instance.provider if instance.provider in _providers() else "other"
    outcome = "cancelled" if instance.event == "login.cancelled" else instance.outcome
    # The pipeline runs in one transaction: a sign-in rolled back after its audit row was never a sign-in.
    transaction.on_commit(lambda: SIGN_INS.labels(provider, via, outcome).inc())


def count_token(request: HttpRequest) -> None:
    try:
        grant_type = request.POST.get("grant_type", "")
    except Exception:  # a body Django cannot parse was already refused by the view
        grant_type = ""
    TOKENS.labels(GRANT_TYPES.get(grant_type, "other")).inc()


def count_consent(request: HttpRequest, response: HttpResponse) -> None:
    """An authorization request that ended in a redirect to the client: which way did it go?"""
    location = response.get("Location", "")
    query = parse_qs(urlsplit(location).query)
    if "code" in query:
        decision = "allowed" if request.method == "POST" else "skipped"
    elif query.get("error") == ["access_denied"] and request.method == "POST":
        decision = "denied"
    else:
        return  # an error redirect (invalid scope, ...) is not a decision
    CONSENT_DECISIONS.labels(decision).inc()


def observe_response(*, view: str, status: int, seconds: float) -> None:
    RESPONSES.labels(f"{status // 100}xx").inc()
    LATENCY.labels(view).observe(seconds)


def _registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Every worker's files, not only this worker's values (a fresh registry per scrape, as documented).
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


def _bearer_token(request: HttpRequest) -> str:
    scheme, _sep, value = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def _address_allowed(request: HttpRequest) -> bool:
    # A request that came through a proxy carries X-Forwarded-For; its REMOTE_ADDR is the proxy's, which
    # is often loopback. The allow-list is for direct scrapes only: through the proxy, the token is needed.
    if "HTTP_X_FORWARDED_FOR" in request.META or "HTTP_FORWARDED" in request.META:
        return False
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in settings.GATEHOUSE_METRICS_ALLOW)


@require_GET
@never_cache
def metrics_view(request: HttpRequest) -> HttpResponse:
    """The node's metrics, for a scraper holding GATEHOUSE_METRICS_TOKEN or on GATEHOUSE_METRICS_ALLOW."""
    expected = settings.GATEHOUSE_METRICS_TOKEN
    presented = _bearer_token(request)
    if expected and presented and hmac.compare_digest(presented.encode(), expected.encode()):
        allowed = True
    else:
        # A wrong token is refused even from an allowed address: a misconfigured scraper should notice.
        allowed = not presented and _address_allowed(request)
    if not allowed:
        if expected:
            response = HttpResponse(_("A valid bearer token is required."), status=401, content_type="text/plain")
            response["WWW-Authenticate"] = 'Bearer realm="gatehouse-metrics"'
            return response
        return HttpResponse(_("Metrics are not available from this address."), status=403, content_type="text/plain")
    return HttpResponse(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)
