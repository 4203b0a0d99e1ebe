"""OpenID Connect Back-Channel Logout 1.0: logout tokens, sent by Gatehouse's own nodes.

How a logout token travels, and why this way:

1. The logout (idp/sso.py `session_end`) writes one `LogoutDelivery` row per client the session signed
   in to that has a `backchannel_logout_uri`, due at once, in the logout's own transaction. Nothing lives
   only in a process's memory: if the process dies, the row is still there.
2. When that transaction commits, a short-lived thread of the same process sends them, all clients in
   parallel, each with a few seconds' timeout. The first attempt so happens within a second or two, and
   the person's redirect never waits for a slow client.
3. Every serving process also runs one `Worker` thread (started by idp/wsgi.py; never in tests unless a
   test starts one) that looks for due rows every POLL_SECONDS: failed attempts whose retry time has come
   (the first retry RETRY_DELAYS[0] after the failure), and rows whose first attempt was lost with its
   process. Any node retries any delivery, because the rows are in the shared database.
4. A row is claimed with a compare-and-set UPDATE on its attempt count, so two workers never make the
   same attempt twice. The claim is a lease: a sender that dies mid-attempt leaves a row that is due again
   LEASE_SECONDS later.

A client may still see an attempt twice (it answered, but the answer was lost): every attempt of one
logout carries the same `jti`, and the token is idempotent by nature (the session is already gone).
"""

from __future__ import annotations

import json
import logging
import os
import random
import secrets
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import requests
from django.conf import settings
from django.db import DatabaseError, close_old_connections, connections, transaction
from django.utils import timezone
from jwcrypto import jws
from jwcrypto.common import json_encode

from idp import keys
from idp.models import LogoutDelivery, SessionAuthorization

logger = logging.getLogger(__name__)

# OpenID Connect Back-Channel Logout 1.0 §2.4 (the event) and §2.5 (the media type, as `typ`).
EVENT = "http://schemas.openid.net/event/backchannel-logout"
TOKEN_TYPE = "logout+jwt"
ALGORITHM = "RS256"
# §2.4 recommends a short life; each attempt is signed afresh, so a late retry is still within it.
TOKEN_SECONDS = 120
TIMEOUT_SECONDS = 5
POLL_SECONDS = 10
LEASE_SECONDS = 30
# Seconds from a failed attempt to the next: the first retry comes within POLL_SECONDS after 15 s.
RETRY_DELAYS = (15, 30, 60, 120, 300, 900, 1800, 3600)
PARALLEL_SENDS = 8
# Delivered or abandoned rows are kept this long for the admin, then purged by the worker.
KEEP_FINISHED = timedelta(days=7)
PURGE_EVERY_SECONDS = 3600


def deliveries_create(*, user, sid: str, applications: Iterable) -> list[str]:
    """Queue a logout token for every client of the session that asked for them (call inside the logout's
    transaction). Returns their client ids. They are sent as soon as the transaction commits."""
    now = timezone.now()
    rows = [
        LogoutDelivery(
            application=application,
            uri=application.backchannel_logout_uri,
            sub=user.sub,
            sid=sid,
            jti=secrets.token_urlsafe(24),
            next_attempt_at=now,
        )
        for application in applications
        if application.backchannel_logout_uri
    ]
    if not rows:
        return []
    created = LogoutDelivery.objects.bulk_create(rows)
    ids = [row.pk for row in created if row.pk is not None] or None  # None: any due row (no pks back)
    transaction.on_commit(lambda: _deliver_in_background(ids))
    return sorted(row.application.client_id for row in rows)


def logout_token(delivery: LogoutDelivery, *, now: int | None = None) -> str:
    """The logout token of §2.4, signed with the active key: iss, aud, iat, exp, jti, events, sub, sid.

    No `nonce` (§2.4 forbids one, so a logout token can never pass for an ID token), and the header's
    `typ` tells it apart from every other JWT Gatehouse signs (§2.5).
    """
    issued_at = int(time.time()) if now is None else now
    claims = {
        "iss": settings.GATEHOUSE_URL,
        "aud": delivery.application.client_id,
        "iat": issued_at,
        "exp": issued_at + TOKEN_SECONDS,
        "jti": delivery.jti,
        "sub": delivery.sub,
        "events": {EVENT: {}},
    }
    if delivery.sid:
        claims["sid"] = delivery.sid
    current = keys.keyset()
    header = {"typ": TOKEN_TYPE, "alg": ALGORITHM, "kid": current.active_kid}
    token = jws.JWS(json_encode(claims).encode())
    token.add_signature(current.active, alg=ALGORITHM, protected=json.dumps(header))
    return token.serialize(compact=True)


def _send(uri: str, token: str) -> str | None:
    """POST the token (§2.5); None when the client answered 2xx, else what went wrong. No database here."""
    try:
        # Redirects are not followed: the token goes to the registered URI or nowhere.
        response = requests.post(uri, data={"logout_token": token}, timeout=TIMEOUT_SECONDS, allow_redirects=False)
    except requests.RequestException as error:
        return f"{type(error).__name__}: {error}"
    if 200 <= response.status_code < 300:
        return None
    return f"HTTP {response.status_code}"


def _claim(row: LogoutDelivery, now) -> bool:
    """Take this attempt of the row, unless another worker took it first (compare-and-set)."""
    taken = LogoutDelivery.objects.filter(pk=row.pk, state=LogoutDelivery.State.PENDING, attempts=row.attempts).update(
        attempts=row.attempts + 1, next_attempt_at=now + timedelta(seconds=LEASE_SECONDS)
    )
    if taken:
        row.attempts += 1
    return bool(taken)


def _record(row: LogoutDelivery, error: str | None) -> None:
    now = timezone.now()
    if error is None:
        update = {"state": LogoutDelivery.State.DELIVERED, "delivered_at": now, "next_attempt_at": None,
                  "last_error": ""}  # fmt: skip
        logger.info("back-channel logout delivered to %s (attempt %d)", row.application.client_id, row.attempts)
    elif row.attempts > len(RETRY_DELAYS):
        update = {"state": LogoutDelivery.State.FAILED, "next_attempt_at": None, "last_error": error[:300]}
        logger.warning("back-channel logout to %s abandoned after %d attempts: %s",
                       row.application.client_id, row.attempts, error)  # fmt: skip
    else:
        retry_at = now + timedelta(seconds=RETRY_DELAYS[row.attempts - 1])
        update = {"next_attempt_at": retry_at, "last_error": error[:300]}
        logger.warning("back-channel logout to %s failed (attempt %d, retry at %s): %s",
                       row.application.client_id, row.attempts, retry_at.isoformat(), error)  # fmt: skip
    # Only while the claim is still ours.
    LogoutDelivery.objects.filter(pk=row.pk, attempts=row.attempts).update(**update)


def deliver_due(*, ids: list[int] | None = None, now=None, limit: int = 100) -> int:
    """Attempt every due delivery (or only `ids`, if due); returns how many attempts were made."""
    now = now or timezone.now()
    due = LogoutDelivery.objects.filter(state=LogoutDelivery.State.PENDING, next_attempt_at__lte=now)
    if ids is not None:
        due = due.filter(pk__in=ids)
    claimed = [row for row in due.select_related("application").order_by("next_attempt_at")[:limit] if _claim(row, now)]
    if not claimed:
        return 0
    # Signed here, where the database is at hand (a key rotation is read from it); sent in parallel.
    tokens = [logout_token(row) for row in claimed]
    with ThreadPoolExecutor(max_workers=min(PARALLEL_SENDS, len(claimed))) as pool:
        errors = list(pool.map(_send, [row.uri for row in claimed], tokens))
    for row, error in zip(claimed, errors):
        _record(row, error)
    return len(claimed)


def _deliver_in_background(ids: list[int] | None) -> None:
    def run() -> None:
        try:
            for pause in (0.2, 0.5, None):
                try:
                    deliver_due(ids=ids)
                    return
                except DatabaseError:
                    # A busy database (SQLite's locks) right at logout: try again shortly; the worker's
                    # next poll remains the safety net.
                    if pause is None:
                        raise
                    time.sleep(pause)
        except Exception:
            logger.exception("back-channel logout delivery failed; the worker will retry it")
        finally:
            connections.close_all()  # this thread's connections only

    threading.Thread(target=run, name="gatehouse-backchannel-now", daemon=True).start()


def records_purge(*, now=None) -> None:
    """Forget finished deliveries after a week, and session records no token or session can still need."""
    now = now or timezone.now()
    LogoutDelivery.objects.exclude(state=LogoutDelivery.State.PENDING).filter(created__lt=now - KEEP_FINISHED).delete()
    refresh_seconds = settings.OAUTH2_PROVIDER.get("REFRESH_TOKEN_EXPIRE_SECONDS") or 0
    horizon = timedelta(seconds=max(settings.SESSION_COOKIE_AGE, refresh_seconds)) + timedelta(days=1)
    SessionAuthorization.objects.filter(created__lt=now - horizon).delete()


class Worker(threading.Thread):
    """Retries due deliveries every `interval` seconds, from whichever process it runs in."""

    def __init__(self, interval: float = POLL_SECONDS) -> None:
        super().__init__(name="gatehouse-backchannel-worker", daemon=True)
        self.interval = interval
        self.stopped = threading.Event()
        self._last_purge = 0.0

    def run(self) -> None:
        # Jitter, so the workers of many processes started together do not poll in step.
        while not self.stopped.wait(self.interval * random.uniform(0.8, 1.0)):
            try:
                close_old_connections()
                deliver_due()
                if time.monotonic() - self._last_purge > PURGE_EVERY_SECONDS:
                    records_purge()
                    self._last_purge = time.monotonic()
            except Exception:
                logger.exception("back-channel logout worker cycle failed")
            finally:
                close_old_connections()
        connections.close_all()

    def stop(self) -> None:
        self.stopped.set()


_worker: Worker | None = None
_worker_lock = threading.Lock()


def worker_start() -> Worker | None:
    """Start this process's worker once (idp/wsgi.py). GATEHOUSE_BACKCHANNEL_WORKER=0 turns it off."""
    global _worker
    if os.getenv("GATEHOUSE_BACKCHANNEL_WORKER", "1") == "0":
        return None
    with _worker_lock:
        if _worker is None or not _worker.is_alive():
            _worker = Worker()
            _worker.start()
    return _worker
