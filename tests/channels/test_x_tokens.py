"""X inboxes renew their OAuth 2.0 access token (docs/channels/x.md), against a stand-in for
X's token endpoint that checks what X checks and rotates both tokens on every renewal."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from sqlmodel import Session
from starlette.testclient import TestClient

from channels import x
from channels.base import SendFailed
from channels.dispatch import deliver
from channels.x_tokens import refresh_x_tokens, report_rejected, run_x_token_refresh
from inbox.accounts import do_update_inbox
from inbox.db import Database, make_engine
from inbox.models import Inbox
from inbox.settings import Settings
from main import create_app
from tests.channels.helpers import add_inbox, add_inbox_id, outbound_reply, reply, stored
from tests.conftest import BACKEND
from tests.factories import build_world, customer_writes
from tests.standins import Answer, StandIn, standin_server

NOW = datetime(2025, 3, 4, 9, 0, tzinfo=UTC)
CLIENT_ID = "M1M5R3BMVy13QmpScXkzTUt5OE46MTpjaQ"
CLIENT_SECRET = "x-oauth2-client-secret"
JORDAN = "3001969357"
TOKEN_PATH = "/2/oauth2/token"
DM_PREFIX = "/2/dm_conversations/with/"
# X's answer to a refresh token it does not know: revoked, or spent by an earlier renewal.
SPENT = {"error": "invalid_request", "error_description": "Value passed for the token was invalid."}


def oauth_error(status: int, error: str, description: str) -> Answer:
    return status, json.dumps({"error": error, "error_description": description}).encode()


class XTokens:
    """X as a renewal meets it. The token endpoint takes a form body with
    grant_type=refresh_token, the client (its id in the form for a public client, HTTP Basic
    id and secret for a confidential one) and the refresh token it issued last, and answers a
    new pair: the refresh token sent is spent. The DM endpoint takes only the access token
    issued last."""

    def __init__(self, *, confidential: bool = False) -> None:
        self.confidential = confidential
        self.refresh_token = "refresh-0"
        self.access_token: str | None = "access-0"
        self.issued = 0
        # Set to answer every renewal with it (X down), spending nothing.
        self.outage: Answer | None = None
        # The bearer tokens of the DMs X took.
        self.dm_tokens: list[str] = []
        # X's handlers run in threads; a refresh token is spent once, however many ask.
        self.lock = threading.Lock()

    def __call__(self, path: str, headers: dict[str, str], body: bytes) -> Answer:
        if path == TOKEN_PATH:
            return self.token(headers, body)
        if path.startswith(DM_PREFIX):
            return self.direct_message(headers)
        return 404, b'{"title": "Not Found Error", "status": 404}'

    def token(self, headers: dict[str, str], body: bytes) -> Answer:
        if self.outage is not None:
            return self.outage
        if not headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return oauth_error(400, "invalid_request", "The body is not form-encoded.")
        form = {key: values[0] for key, values in parse_qs(body.decode()).items()}
        if form.get("grant_type") != "refresh_token":
            return oauth_error(400, "unsupported_grant_type", "grant_type is not supported.")
        if self.confidential:
            basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
            if headers.get("authorization") != f"Basic {basic}":
                return oauth_error(401, "unauthorized_client", "Missing valid authorization header")
        elif form.get("client_id") != CLIENT_ID or "authorization" in headers:
            return oauth_error(400, "invalid_request", "Missing required parameter [client_id].")
        with self.lock:
            if form.get("refresh_token") != self.refresh_token:
                return 400, json.dumps(SPENT).encode()
            self.issued += 1
            self.refresh_token = f"refresh-{self.issued}"
            self.access_token = f"access-{self.issued}"
            answer = {
                "token_type": "bearer",
                "expires_in": 7200,
                "access_token": self.access_token,
                "scope": "dm.read dm.write tweet.read users.read media.write offline.access",
                "refresh_token": self.refresh_token,
            }
        return 200, json.dumps(answer).encode()

    def direct_message(self, headers: dict[str, str]) -> Answer:
        bearer = headers.get("authorization", "")
        if self.access_token is None or bearer != f"Bearer {self.access_token}":
            return 401, b'{"title": "Unauthorized", "type": "about:blank", "status": 401}'
        self.dm_tokens.append(bearer.removeprefix("Bearer "))
        event_id = str(1729530000000000000 + len(self.dm_tokens))
        return 201, json.dumps({"data": {"dm_event_id": event_id}}).encode()


def x_config(api: StandIn, **changes: Any) -> dict[str, Any]:
    """An X inbox's config with the tokens the stand-in issued first; `changes` on top (None
    removes a key)."""
    config: dict[str, Any] = {
        "consumer_secret": "x-consumer-secret",
        "access_token": "access-0",
        "account_id": "1458284524761075714",
        "api_base": api.url,
        "refresh_token": "refresh-0",
        "client_id": CLIENT_ID,
        "access_token_expires_at": (NOW + timedelta(minutes=10)).isoformat(),
    }
    config.update(changes)
    return {key: value for key, value in config.items() if value is not None}


def config_of(db: Database, inbox_id: int) -> dict[str, Any]:
    """The inbox's config as stored now."""
    with db.session() as session:
        return dict(session.get_one(Inbox, inbox_id).config)


def renewals(api: StandIn) -> int:
    """How many times the token endpoint was asked."""
    return len([r for r in api.received if r.path == TOKEN_PATH])


async def one_pass(db: Database, now: datetime = NOW) -> list[int]:
    async with httpx.AsyncClient() as http:
        return await refresh_x_tokens(db, http, now=now)


def wait_until(done: Callable[[], bool], timeout: float = 10.0) -> None:
    """Block until `done()` (a background task's commit), failing after `timeout`."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


# -- renewing --------------------------------------------------------------------------------


@pytest.mark.parametrize("confidential", [False, True], ids=["public", "confidential"])
@pytest.mark.parametrize(
    "expires_at",
    [(NOW + timedelta(minutes=10)).isoformat(), (NOW - timedelta(hours=3)).isoformat(), None],
    ids=["soon", "past", "unknown"],
)
async def test_a_token_about_to_run_out_is_renewed_and_both_tokens_rotate(
    db: Database, confidential: bool, expires_at: str | None
) -> None:
    x_api = XTokens(confidential=confidential)
    with standin_server() as api:
        api.check = x_api
        client = {"client_secret": CLIENT_SECRET} if confidential else {}
        config = x_config(api, access_token_expires_at=expires_at, **client)
        inbox_id = add_inbox_id(db, "Acme on X", "x", config)
        assert await one_pass(db) == [inbox_id]
        # Renewed two hours ahead: the next pass leaves it alone.
        assert await one_pass(db, NOW + timedelta(minutes=5)) == []
        assert renewals(api) == 1
    assert config_of(db, inbox_id) == config | {
        "access_token": "access-1",
        "refresh_token": "refresh-1",
        "access_token_expires_at": (NOW + timedelta(seconds=7200)).isoformat(),
    }


async def test_the_renewed_token_is_renewed_again_before_it_runs_out(db: Database) -> None:
    x_api = XTokens()
    with standin_server() as api:
        api.check = x_api
        inbox_id = add_inbox_id(db, "Acme on X", "x", x_config(api))
        await one_pass(db)
        # 1 h 50 min later the token has 10 minutes left, inside the 15-minute margin.
        later = NOW + timedelta(hours=1, minutes=50)
        assert await one_pass(db, later) == [inbox_id]
    config = config_of(db, inbox_id)
    assert (config["access_token"], config["refresh_token"]) == ("access-2", "refresh-2")
    assert config["access_token_expires_at"] == (later + timedelta(hours=2)).isoformat()


@pytest.mark.skipif(BACKEND != "sqlite", reason="on PostgreSQL the row lock makes the admin wait")
async def test_an_admin_saving_the_inbox_while_x_is_asked_keeps_both_changes(
    db: Database,
) -> None:
    """SQLite has no row lock: the renewal writes its tokens onto the config as stored after
    X answered, so an admin's save in between is not undone."""
    x_api = XTokens()
    with standin_server() as api:
        inbox_id = add_inbox_id(db, "Acme on X", "x", x_config(api))

        def admin_saves_meanwhile(path: str, headers: dict[str, str], body: bytes) -> Answer:
            if path == TOKEN_PATH:
                with db.session() as admin:
                    inbox = admin.get_one(Inbox, inbox_id)
                    changes = {"config": {"account_id": "1500000000000000001"}}
                    do_update_inbox(session=admin, inbox=inbox, changes=changes)
                    admin.commit()
            return x_api(path, headers, body)

        api.check = admin_saves_meanwhile
        assert await one_pass(db) == [inbox_id]
    config = config_of(db, inbox_id)
    assert config["account_id"] == "1500000000000000001"
    assert config["refresh_token"] == "refresh-1" and config["access_token"] == "access-1"


async def test_a_token_with_time_to_spare_is_left_alone(db: Database) -> None:
    with standin_server() as api:
        api.check = XTokens()
        config = x_config(api, access_token_expires_at=(NOW + timedelta(hours=1)).isoformat())
        inbox_id = add_inbox_id(db, "Acme on X", "x", config)
        assert await one_pass(db) == []
        assert api.received == []
    assert config_of(db, inbox_id) == config


@pytest.mark.parametrize("refresh_token", [None, ""], ids=["absent", "blank"])
async def test_an_inbox_without_a_refresh_token_is_left_as_it_is(
    db: Database, refresh_token: str | None
) -> None:
    with standin_server() as api:
        api.check = XTokens()
        # As before refresh tokens: no client, no expiry, an access token the admin keeps.
        config = x_config(
            api, refresh_token=refresh_token, client_id=None, access_token_expires_at=None
        )
        inbox_id = add_inbox_id(db, "Acme on X", "x", config)
        assert await one_pass(db) == []
        assert api.received == []
    assert config_of(db, inbox_id) == config


# -- failures --------------------------------------------------------------------------------


async def test_a_revoked_refresh_token_is_shown_to_the_admin_and_not_tried_again(
    db: Database, session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    x_api = XTokens()
    x_api.refresh_token = "refresh-after-the-admin-revoked-the-app"
    with standin_server() as api:
        api.check = x_api
        config = x_config(api)
        inbox_id = add_inbox_id(db, "Acme on X", "x", config)
        with caplog.at_level(logging.WARNING, logger="handoff.x.tokens"):
            for minutes in (0, 1, 2, 30):
                assert await one_pass(db, NOW + timedelta(minutes=minutes)) == []
        assert renewals(api) == 1
        stored_config = config_of(db, inbox_id)
        assert stored_config["token_error"] == (
            "X refused to renew the access token (400): Value passed for the token was invalid."
        )
        # Nothing else changed: the access token works until it runs out.
        assert {k: v for k, v in stored_config.items() if not k.startswith("token_error")} == (
            config
        )
        [warning] = caplog.records
        assert "until an admin reconnects" in warning.getMessage()

        # The admin reconnects the account and pastes the new refresh token: used at once.
        inbox = session.get_one(Inbox, inbox_id)
        changes = {"config": {"refresh_token": x_api.refresh_token}}
        do_update_inbox(session=session, inbox=inbox, changes=changes)
        session.commit()
        assert await one_pass(db, NOW + timedelta(minutes=31)) == [inbox_id]
    renewed = config_of(db, inbox_id)
    assert "token_error" not in renewed and "token_error_for" not in renewed
    assert renewed["access_token"] == "access-1"


async def test_a_wrong_client_secret_is_shown_to_the_admin(db: Database) -> None:
    with standin_server() as api:
        api.check = XTokens(confidential=True)
        inbox_id = add_inbox_id(db, "Acme on X", "x", x_config(api, client_secret="not-the-secret"))
        assert await one_pass(db) == []
    assert config_of(db, inbox_id)["token_error"] == (
        "X refused to renew the access token (401): Missing valid authorization header"
    )


async def test_a_refresh_token_without_a_client_id_is_shown_to_the_admin(db: Database) -> None:
    with standin_server() as api:
        api.check = XTokens()
        inbox_id = add_inbox_id(db, "Acme on X", "x", x_config(api, client_id=None))
        assert await one_pass(db) == []
        assert api.received == []  # X would refuse it
    assert "no client_id" in config_of(db, inbox_id)["token_error"]


@pytest.mark.parametrize(
    "outage",
    [
        (503, b'{"title": "Service Unavailable", "status": 503}'),
        (429, b'{"title": "Too Many Requests", "status": 429}'),
    ],
    ids=["503", "429"],
)
async def test_x_down_leaves_the_tokens_as_they_were_and_the_next_pass_renews(
    db: Database, outage: Answer
) -> None:
    x_api = XTokens()
    with standin_server() as api:
        api.check = x_api
        config = x_config(api)
        inbox_id = add_inbox_id(db, "Acme on X", "x", config)
        x_api.outage = outage
        assert await one_pass(db) == []
        assert config_of(db, inbox_id) == config
        x_api.outage = None
        assert await one_pass(db, NOW + timedelta(minutes=1)) == [inbox_id]
    assert config_of(db, inbox_id)["refresh_token"] == "refresh-1"


# -- passes at once --------------------------------------------------------------------------


async def test_two_passes_at_once_spend_the_refresh_token_once(db: Database) -> None:
    x_api = XTokens()
    with standin_server() as api:
        api.check = x_api
        api.delay = 0.3  # X is slow: the second pass comes while the first waits
        inbox_id = add_inbox_id(db, "Acme on X", "x", x_config(api))
        first, second = await asyncio.gather(one_pass(db), one_pass(db))
        assert sorted([first, second]) == [[], [inbox_id]]
        assert renewals(api) == 1
    config = config_of(db, inbox_id)
    assert config["refresh_token"] == "refresh-1" and "token_error" not in config


@pytest.mark.skipif(
    BACKEND != "postgresql", reason="several processes share a database on PostgreSQL only"
)
def test_two_processes_at_once_spend_the_refresh_token_once(
    db: Database, settings: Settings
) -> None:
    x_api = XTokens()
    # Each "process" has its own engine, so only the database's row lock keeps them apart.
    processes = [Database(make_engine(settings.database_url), db.bus) for _ in range(2)]
    start = threading.Barrier(len(processes))
    renewed: list[list[int]] = []

    def run(process: Database) -> None:
        start.wait()
        renewed.append(asyncio.run(one_pass(process)))

    with standin_server() as api:
        api.check = x_api
        api.delay = 0.3
        inbox_id = add_inbox_id(db, "Acme on X", "x", x_config(api))
        threads = [threading.Thread(target=run, args=(p,)) for p in processes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert renewals(api) == 1
    for process in processes:
        process.engine.dispose()
    assert sorted(renewed) == [[], [inbox_id]]
    config = config_of(db, inbox_id)
    assert config["refresh_token"] == "refresh-1" and "token_error" not in config


# -- replies ---------------------------------------------------------------------------------


async def test_a_reply_waits_for_the_renewal_and_goes_out_with_the_new_token(
    session: Session, db: Database
) -> None:
    x_api = XTokens()
    x_api.access_token = None  # X no longer takes access-0: its two hours are up
    world = build_world(session)
    with standin_server() as api:
        api.check = x_api
        config = x_config(api, access_token_expires_at=(NOW - timedelta(minutes=1)).isoformat())
        inbox = add_inbox(session, "Acme on X", "x", config)
        customer_writes(session, inbox, "Hi", who=JORDAN)
        reply_id = reply(session, world, inbox, "On its way!")
        async with httpx.AsyncClient() as http:
            await deliver(db, http, reply_id)
            waiting = stored(db, reply_id)
            assert waiting.delivery == "pending"
            assert waiting.error is not None and "X answered 401" in waiting.error
            await refresh_x_tokens(db, http, now=NOW)
            await deliver(db, http, reply_id)
    assert x_api.dm_tokens == ["access-1"]
    assert stored(db, reply_id).delivery == "sent"


async def test_a_token_x_revoked_early_is_renewed_at_once_and_the_reply_goes_out(
    session: Session, db: Database
) -> None:
    """The stored expiry is an hour and a half away, but the user revoked the App: the 401
    makes the next pass renew, where it would otherwise have waited for the expiry."""
    x_api = XTokens()
    world = build_world(session)
    with standin_server() as api:
        api.check = x_api
        config = x_config(api, access_token_expires_at=(NOW + timedelta(minutes=90)).isoformat())
        inbox = add_inbox(session, "Acme on X", "x", config)
        customer_writes(session, inbox, "Hi", who=JORDAN)
        reply_id = reply(session, world, inbox, "On its way!")
        async with httpx.AsyncClient() as http:
            assert await refresh_x_tokens(db, http, now=NOW) == []  # not due by its expiry
            x_api.access_token = None  # revoked: X takes access-0 no more
            await deliver(db, http, reply_id)
            assert stored(db, reply_id).delivery == "pending"
            assert await refresh_x_tokens(db, http, now=NOW) == [inbox.id]
            assert await refresh_x_tokens(db, http, now=NOW) == []  # once, not every pass
            await deliver(db, http, reply_id)
    assert renewals(api) == 1
    assert x_api.dm_tokens == ["access-1"]
    assert stored(db, reply_id).delivery == "sent"


async def test_a_rejected_token_wakes_the_renewal_pass_at_once(db: Database) -> None:
    x_api = XTokens()
    with standin_server() as api:
        api.check = x_api
        config = x_config(api, access_token_expires_at="2999-01-01T00:00:00+00:00")
        inbox_id = add_inbox_id(db, "Acme on X", "x", config)
        async with httpx.AsyncClient() as http:
            # An hour between passes: only the report can make this one run again soon.
            passes = asyncio.create_task(run_x_token_refresh(db, http, interval=3600))
            try:
                await asyncio.sleep(0.3)  # the first pass: nothing due
                assert renewals(api) == 0
                report_rejected(config)
                deadline = time.monotonic() + 10
                while config_of(db, inbox_id)["refresh_token"] != "refresh-1":
                    assert time.monotonic() < deadline, "the pass did not wake up"
                    await asyncio.sleep(0.05)
            finally:
                passes.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await passes
    assert renewals(api) == 1


@pytest.mark.parametrize(
    ("refresh_token", "permanent"),
    [("refresh-0", False), (None, True)],
    ids=["with-refresh-token", "without"],
)
async def test_a_401_is_worth_another_try_only_with_a_refresh_token(
    session: Session, db: Database, refresh_token: str | None, permanent: bool
) -> None:
    x_api = XTokens()
    x_api.access_token = "access-the-inbox-does-not-have"
    world = build_world(session)
    with standin_server() as api:
        api.check = x_api
        inbox = add_inbox(session, "Acme on X", "x", x_config(api, refresh_token=refresh_token))
        outbound = outbound_reply(session, db, inbox, JORDAN, world.dana, "On its way!")
        async with httpx.AsyncClient() as http:
            with pytest.raises(SendFailed) as failure:
                await x.XChannel().send(outbound, http)
    assert failure.value.permanent is permanent
    assert "X answered 401" in str(failure.value)
    if not permanent:
        # After the renewal the 401 set off (channels/x_tokens.py).
        assert failure.value.retry_after == x.AFTER_RENEWAL


# -- the running app -------------------------------------------------------------------------


def test_the_app_renews_x_tokens_in_the_background(settings: Settings, db: Database) -> None:
    x_api = XTokens()
    with standin_server() as api:
        api.check = x_api
        inbox_id = add_inbox_id(db, "Acme on X", "x", x_config(api, access_token_expires_at=None))
        with TestClient(create_app(settings), base_url="http://testserver"):
            wait_until(lambda: config_of(db, inbox_id)["refresh_token"] == "refresh-1")
    assert renewals(api) == 1
