"""The last resort for unhandled exceptions (handler500): a database that does not answer is a 503.

Django calls this for exceptions raised anywhere below the outermost middleware, sessions and
authentication included (GOTCHAS.md: process_exception would see only the view's), while the exception
is still being handled. Nothing here touches the database, the session or messages.
"""

from __future__ import annotations

import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.utils import translation
from django.utils.cache import add_never_cache_headers

from idp.badinput import wants_json

RETRY_AFTER_SECONDS = 5


def _database_down() -> bool:
    exc = sys.exc_info()[1]
    while exc is not None:
        if isinstance(exc, (OperationalError, InterfaceError)):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def server_error(request: HttpRequest) -> HttpResponse:
    down = _database_down()
    status = 503 if down else 500
    if wants_json(request.path_info) or request.path_info == "/healthz":
        # RFC 6749 §4.1.2.1 names this error; RFC 6749 §5.2's shape for every machine-facing endpoint.
        error = "temporarily_unavailable" if down else "server_error"
        response = JsonResponse({"error": error, "error_description": "The service is temporarily unavailable."
                                 if down else "An unexpected error occurred."}, status=status)
    else:
        with translation.override(translation.get_language_from_request(request)):
            # No request context: context processors would read the session and messages.
            content = loader.render_to_string("503.html" if down else "500.html")
        response = HttpResponse(content, status=status)
    if down:
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    add_never_cache_headers(response)
    return response
