"""Log formatters: JSON (production) or plain text, each line carrying the request id, secrets masked.

The request id is set by idp.middleware.RequestIdMiddleware for the duration of a request. Masking is
the second line of defence: nothing should log a token, code or query string of /o/ and /complete/ in
the first place (our request log writes the path only, django-oauth-toolkit and oauthlib are kept
above DEBUG in settings.LOGGING), but a library's message or an exception text could still carry one.
"""

from __future__ import annotations

import json
import logging
import re
from contextvars import ContextVar
from datetime import UTC, datetime

request_id_var: ContextVar[str | None] = ContextVar("gatehouse_request_id", default=None)

REDACTED = "[redacted]"
# The whole query string of a URL under /o/ (authorization codes, states, tokens, id_token_hint) or
# /complete/ (the upstream's code and state).
_PROTOCOL_QUERY = re.compile(r"(/(?:o|complete)/[^\s?#\"']*)\?[^\s\"'#]+")
# Parameters that are credentials wherever they appear: `name=value`, `"name": "value"`, `'name': 'value'`.
_SECRET_NAMES = (
    "access_token|refresh_token|id_token|id_token_hint|logout_token|subject_token|actor_token|"
    "client_secret|code_verifier|password|assertion|secret_key"
)
_NAMED_SECRET = re.compile(rf"""(\b(?:{_SECRET_NAMES})\b["']?\s*[:=]\s*["']?)[^"'&\s,;}}]+""", re.IGNORECASE)
# One-time values that are only secret in a query string or form body (`code=` also names error codes).
_QUERY_SECRET = re.compile(r"([?&](?:code|state|nonce|token)=)[^&\s\"']+", re.IGNORECASE)
_AUTHORIZATION = re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")

# Attributes every LogRecord has; anything else on a record came from `extra=` and is logged too.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "request_id"}
NO_REQUEST = "-"
PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def _install_record_factory() -> None:
    """Every record gets `request_id` when it is made, so any handler or format string may use it."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "gatehouse_request_id", False):
        return

    def factory(*args, **kwargs) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        record.request_id = request_id_var.get() or NO_REQUEST
        return record

    factory.gatehouse_request_id = True
    logging.setLogRecordFactory(factory)


_install_record_factory()


# Every pattern above needs one of these; most log lines have none and skip the five passes (one line per
# request is logged, so this is on the hot path).
_MAYBE_SECRET = re.compile(r"[?=:]|bearer|basic|eyJ", re.IGNORECASE)


def redact(text: str) -> str:
    if not _MAYBE_SECRET.search(text):
        return text
    text = _PROTOCOL_QUERY.sub(rf"\1?{REDACTED}", text)
    text = _NAMED_SECRET.sub(rf"\1{REDACTED}", text)
    text = _QUERY_SECRET.sub(rf"\1{REDACTED}", text)
    text = _AUTHORIZATION.sub(rf"\1 {REDACTED}", text)
    return _JWT.sub(REDACTED, text)


class PlainFormatter(logging.Formatter):
    """`time level logger [request id] message`, for a person reading a terminal."""

    def __init__(self, format: str = PLAIN_FORMAT) -> None:  # noqa: A002 (dictConfig's key is `format`)
        super().__init__(format)

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "request_id"):  # made without the factory (LogRecord() directly, makeLogRecord)
            record.request_id = NO_REQUEST
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log collectors."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            "request_id": None if getattr(record, "request_id", NO_REQUEST) == NO_REQUEST else record.request_id,
        }
        for key, value in vars(record).items():
            # Only plain values: Django passes the request object itself, whose repr has the query string.
            if key not in _STANDARD and not key.startswith("_") and isinstance(value, str | int | float | bool):
                entry[key] = redact(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False, default=str)
