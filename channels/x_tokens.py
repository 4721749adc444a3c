"""X inboxes keep their OAuth 2.0 user access token fresh (docs/channels/x.md).

A token from X's Authorization Code flow lasts two hours; with the `offline.access` scope X
also gives a refresh token. For each X inbox with a `refresh_token`, a pass a minute renews
the access token once it runs out within MARGIN: `POST {api_base}/2/oauth2/token` with the
form `grant_type=refresh_token&refresh_token=...` and the App's client (`client_id` in the
form for a public client, HTTP Basic with the client id and secret for a confidential one).
X answers `access_token`, `expires_in` and a new `refresh_token`, and the one sent is spent:
X rotates them, so every answer is stored at once, and a refresh token is never sent twice.

Several processes may share one PostgreSQL: the inbox's row is locked (FOR UPDATE) from
before X is asked until the new tokens are committed, and its expiry is read again under
the lock, since another process may have renewed it a moment ago.

X may also stop taking an access token before its stored expiry (the user revoked the App,
or changed their password). A reply that meets a 401 reports the token (`report_rejected`),
and this process's pass renews that inbox at once instead of at the expiry.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlmodel import Session, select

from inbox.clock import utcnow
from inbox.db import Database
from inbox.models import Inbox

from .x_media import DEFAULT_API_BASE

log = logging.getLogger("handoff.x.tokens")

TOKEN_PATH = "/2/oauth2/token"
TIMEOUT = 10.0
# Renew this long before the access token runs out: a pass that finds X down leaves time
# for about fifteen more before replies start failing.
MARGIN = timedelta(minutes=15)
# X's access tokens last two hours; assumed when an answer does not say (`expires_in`).
LIFETIME = timedelta(hours=2)

# Inboxes a pass in this process is renewing now, as (engine, inbox id): SQLite ignores FOR
# UPDATE, so two passes of one process would otherwise both spend the refresh token.
_renewing: set[tuple[int, int]] = set()

# Access tokens X answered 401 to, as `_token_key`s: the inbox holding one is due at once.
# Keyed by the token and the API it was sent to, not the inbox id, which another database in
# the same process (a test's) may reuse. Bounded: a key goes once its inbox is renewed.
_rejected: set[str] = set()
MAX_REJECTED = 1000
# The running passes' wake-ups, with their loops: a report may come from another loop.
_wakeups: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()


class Refused(Exception):
    """X will not renew with these credentials (a revoked or spent refresh token, a wrong
    client): only an admin reconnecting the account helps."""


class Unavailable(Exception):
    """X gave no usable answer this time (5xx, 429, a timeout): the next pass tries again."""


@dataclass(frozen=True)
class Renewed:
    access_token: str
    refresh_token: str
    expires_at: datetime


def credentials_fingerprint(config: dict[str, Any]) -> str:
    """Stands for the client and refresh token a renewal sends, without keeping them twice."""
    parts = (str(config.get(key) or "") for key in ("client_id", "client_secret", "refresh_token"))
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def stored_expiry(config: dict[str, Any]) -> datetime | None:
    try:
        when = datetime.fromisoformat(str(config.get("access_token_expires_at") or ""))
    except ValueError:
        return None  # none or unreadable: renew now, and X's answer says when
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _token_key(config: dict[str, Any]) -> str:
    parts = (str(config.get("api_base") or DEFAULT_API_BASE), str(config.get("access_token") or ""))
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def report_rejected(config: dict[str, Any]) -> None:
    """X answered 401 to this inbox's access token: renew it now, whatever its expiry says."""
    if len(_rejected) >= MAX_REJECTED:
        _rejected.clear()  # reports of inboxes long renewed or deleted: the next 401 re-reports
    _rejected.add(_token_key(config))
    for loop, wake in list(_wakeups):
        try:
            loop.call_soon_threadsafe(wake.set)
        except RuntimeError:  # that loop has closed; its pass is gone
            _wakeups.discard((loop, wake))


def refused_before(config: dict[str, Any]) -> bool:
    """X refused these very credentials: asking again would be refused again."""
    refused_for = config.get("token_error_for")
    return bool(config.get("token_error")) and refused_for == credentials_fingerprint(config)


def needs_renewal(config: dict[str, Any], now: datetime, margin: timedelta) -> bool:
    if not config.get("refresh_token") or refused_before(config):
        return False  # without one, the admin keeps the access token current, as before
    if _token_key(config) in _rejected:
        return True
    expiry = stored_expiry(config)
    return expiry is None or expiry - now <= margin


def renewed_config(config: dict[str, Any], renewed: Renewed) -> dict[str, Any]:
    """A new dict, so SQLAlchemy sees the JSON column change."""
    fresh = {
        **config,
        "access_token": renewed.access_token,
        "refresh_token": renewed.refresh_token,
        "access_token_expires_at": renewed.expires_at.isoformat(),
    }
    fresh.pop("token_error", None)
    fresh.pop("token_error_for", None)
    return fresh


def refused_config(
    config: dict[str, Any], reason: str, *, refused: dict[str, Any]
) -> dict[str, Any]:
    """What an admin reads; kept until a renewal succeeds, tried again once they paste other
    credentials than the `refused` ones (the fingerprint no longer matches)."""
    return {**config, "token_error": reason, "token_error_for": credentials_fingerprint(refused)}


def _reread(session: Session, inbox: Inbox) -> None:
    """The config as stored now, before writing to it: on SQLite (no row lock) an admin may
    have saved the inbox while X was being asked, and their changes must stay."""
    session.refresh(inbox, ["config"])


async def ask_x(http: httpx.AsyncClient, config: dict[str, Any], now: datetime) -> Renewed:
    """Spend the inbox's refresh token on a new pair of tokens."""
    client_id = str(config.get("client_id") or "")
    if not client_id:
        raise Refused("the inbox has no client_id: X renews a token only for its App's client")
    form = {"grant_type": "refresh_token", "refresh_token": str(config["refresh_token"])}
    headers: dict[str, str] = {}
    if secret := str(config.get("client_secret") or ""):
        # A confidential client authenticates with HTTP Basic, base64 of "id:secret".
        pair = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        headers["authorization"] = f"Basic {pair}"
    else:
        form["client_id"] = client_id  # a public client only names itself
    base = str(config.get("api_base") or DEFAULT_API_BASE).rstrip("/")
    try:
        response = await http.post(
            f"{base}{TOKEN_PATH}", data=form, headers=headers, timeout=TIMEOUT
        )
    except httpx.HTTPError as exc:
        raise Unavailable(f"X could not be reached ({type(exc).__name__})") from exc
    status = response.status_code
    if status in (408, 425, 429) or status >= 500:
        raise Unavailable(f"X answered {status}")
    try:
        answer = response.json()
    except ValueError:
        answer = None
    answer = answer if isinstance(answer, dict) else {}
    if status >= 300:
        said = answer.get("error_description") or answer.get("error") or response.text[:300]
        raise Refused(f"X refused to renew the access token ({status}): {said}".strip())
    access, expires_in = answer.get("access_token"), answer.get("expires_in")
    if not isinstance(access, str) or not access:
        raise Unavailable("X's answer has no access_token")
    lifetime = timedelta(seconds=expires_in) if isinstance(expires_in, int | float) else LIFETIME
    # X rotates the refresh token; were one missing, the one sent would still be good.
    refresh = answer.get("refresh_token") or config["refresh_token"]
    return Renewed(access, str(refresh), now + lifetime)


def due_inboxes(db: Database, now: datetime, margin: timedelta) -> list[int]:
    with db.session() as session:
        inboxes = session.exec(select(Inbox).where(Inbox.channel == "x")).all()
        return [
            inbox.id
            for inbox in inboxes
            if inbox.id is not None and needs_renewal(inbox.config, now, margin)
        ]


async def renew_inbox(
    db: Database, http: httpx.AsyncClient, inbox_id: int, *, now: datetime, margin: timedelta
) -> bool:
    """Renew one inbox's tokens unless another pass is at it or just did; whether it did."""
    mine = (id(db.engine), inbox_id)
    if mine in _renewing:
        return False
    _renewing.add(mine)
    try:
        with db.session() as session:
            # Skip a row another process holds rather than wait for it: that process is
            # asking X now, and waiting would stall this one's loop (the session is
            # synchronous). Its commit shows in the next pass's re-check.
            inbox = session.exec(
                select(Inbox).where(Inbox.id == inbox_id).with_for_update(skip_locked=True)
            ).first()
            if inbox is None or not needs_renewal(inbox.config, now, margin):
                return False
            sent = dict(inbox.config)
            # Renewed or refused below, this token is done with; X being down keeps it due.
            rejected = _token_key(sent)
            try:
                renewed = await ask_x(http, sent, now)
            except Unavailable as exc:
                log.warning("inbox %s: X token not renewed, trying again: %s", inbox_id, exc)
                return False
            except Refused as exc:
                # Once: the next passes skip these credentials (refused_before).
                log.warning(
                    "inbox %s: X token not renewed until an admin reconnects: %s", inbox_id, exc
                )
                _rejected.discard(rejected)
                _reread(session, inbox)
                inbox.config = refused_config(inbox.config, str(exc), refused=sent)
                session.add(inbox)
                session.commit()
                return False
            _rejected.discard(rejected)
            _reread(session, inbox)
            inbox.config = renewed_config(inbox.config, renewed)
            session.add(inbox)
            session.commit()
            return True
    finally:
        _renewing.discard(mine)


async def refresh_x_tokens(
    db: Database,
    http: httpx.AsyncClient,
    *,
    now: datetime | None = None,
    margin: timedelta = MARGIN,
) -> list[int]:
    """Renew every X inbox's access token that runs out within `margin`; the inboxes renewed.
    One inbox failing stops no other."""
    now = now or utcnow()
    renewed: list[int] = []
    for inbox_id in due_inboxes(db, now, margin):
        try:
            if await renew_inbox(db, http, inbox_id, now=now, margin=margin):
                renewed.append(inbox_id)
        except Exception:  # the database, not X: log it in full and go on
            log.exception("inbox %s: renewing the X token failed", inbox_id)
    return renewed


async def run_x_token_refresh(
    db: Database, http: httpx.AsyncClient, *, interval: float = 60.0
) -> None:
    """Renew X access tokens every `interval` seconds, and at once when a reply reports a
    rejected token, until cancelled."""
    wake = asyncio.Event()
    mine = (asyncio.get_running_loop(), wake)
    _wakeups.add(mine)
    try:
        while True:
            wake.clear()
            try:
                await refresh_x_tokens(db, http)
            except Exception:  # the database was away: try again next pass
                log.exception("X token refresh pass failed")
            # asyncio.timeout, not wait_for, which can swallow a cancel on 3.11 (scheduler.py).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await wake.wait()
    finally:
        _wakeups.discard(mine)
