"""Request ids, one log line per request, and metrics: the first two middleware of every request."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable

from django.core.signals import request_finished
from django.http import HttpRequest, HttpResponse

from idp import metrics
from idp.logging import request_id_var

access_log = logging.getLogger("gatehouse.request")

# What we accept from the proxy: ids as nginx ($request_id), Envoy or a UUID make them. Anything else
# (too long, spaces, newlines that would forge log lines) is replaced, not cleaned up.
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{8,128}")


class RequestIdMiddleware:
    """Takes X-Request-ID from the proxy if well-formed, else makes one; logs it and echoes it back."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        supplied = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = supplied if REQUEST_ID.fullmatch(supplied) else uuid.uuid4().hex
        request.request_id = request_id
        # Kept until the response is closed (request_finished below), not only until this returns: Django
        # logs "Not Found" and other 4xx after the middleware is done, and those lines need the id too.
        request_id_var.set(request_id)
        started = time.perf_counter()
        response = self.get_response(request)
        response["X-Request-ID"] = request_id
        # The path only, never the query string: codes, states and tokens travel there (/o/, /complete/).
        access_log.info(
            "%s %s %s",
            request.method,
            request.path,
            response.status_code,
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                "ip": request.META.get("REMOTE_ADDR", ""),
            },
        )
        return response


def _forget_request_id(**kwargs) -> None:
    # The server closes the response in the thread that served it; a thread's next log lines are not this request's.
    request_id_var.set(None)


request_finished.connect(_forget_request_id, dispatch_uid="gatehouse-forget-request-id")


class MetricsMiddleware:
    """Counts every response by status class and view latency, tokens issued and consent decisions."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        view = match.view_name if match is not None else "other"  # static files, unknown paths
        metrics.observe_response(view=view, status=response.status_code, seconds=time.perf_counter() - started)
        # The token view answers grants without DOT's app_authorized signal (idp/views.py), so they are
        # counted here, from the request and its outcome.
        if view == "oauth2_provider:token" and response.status_code == 200:
            metrics.count_token(request)
        elif view == "oauth2_provider:authorize" and response.status_code in (301, 302, 303):
            metrics.count_consent(request, response)
        return response
