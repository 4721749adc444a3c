"""Several worker processes share one stream of events through a real Redis server.

Two apps (two "workers") on the same database and the same Redis: a message taken in by one
reaches an agent connected to the other, with the same sequence number, and replays there.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator

import pytest
import redis
from sqlmodel import Session
from starlette.testclient import TestClient

from inbox.accounts import do_create_token
from inbox.bus import Subscription
from inbox.events import Audience, Event
from inbox.redis_bus import RedisBus
from inbox.settings import Settings
from main import create_app
from tests.conftest import login
from tests.factories import build_world, customer_writes
from tests.web.test_realtime import ORIGIN, next_frame

REDIS_URL = f"redis://127.0.0.1:{os.environ.get('HANDOFF_TEST_REDIS_PORT', '63799')}/0"


@pytest.fixture
def redis_url() -> str:
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis is not running at {REDIS_URL} ({exc}); `make test` starts it")
    return REDIS_URL


def _event(n: int) -> Event:
    return Event("test.tick", {"n": n}, Audience(agent_ids=frozenset({1})))


async def test_every_process_sees_every_event_in_the_same_order(redis_url: str) -> None:
    namespace = f"test-{uuid.uuid4().hex}"
    one, two = (RedisBus(redis_url, namespace=namespace) for _ in range(2))
    await one.start()
    await two.start()
    try:
        seen_one, seen_two = one.subscribe(lambda e: True), two.subscribe(lambda e: True)
        for n in range(20):
            (one if n % 2 else two).publish([_event(n)])

        async def take(sub: Subscription, count: int) -> list[Event]:
            return [await asyncio.wait_for(sub.queue.get(), 5) for _ in range(count)]

        got_one, got_two = await take(seen_one, 20), await take(seen_two, 20)
        assert [e.data["n"] for e in got_one] == list(range(20))
        assert [(e.seq, e.data["n"]) for e in got_one] == [(e.seq, e.data["n"]) for e in got_two]
        assert [e.seq for e in got_one] == sorted(e.seq for e in got_one)
        assert one.last_seq == two.last_seq == got_one[-1].seq
        replayed = two.replay(got_one[9].seq, lambda e: True)
        assert replayed is not None and [e.data["n"] for e in replayed] == list(range(10, 20))
    finally:
        await one.stop()
        await two.stop()


async def test_a_lost_connection_makes_browsers_resync(redis_url: str) -> None:
    bus = RedisBus(redis_url, namespace=f"test-{uuid.uuid4().hex}")
    await bus.start()
    try:
        sub = bus.subscribe(lambda e: True)
        # Kill this bus's subscriber connection from the server side, as a Redis restart would.
        admin = redis.Redis.from_url(redis_url)
        for client in admin.client_list():
            if "subscribe" in client.get("cmd", "") or int(client.get("sub", 0)) > 0:
                admin.client_kill_filter(_id=client["id"])
        for _ in range(100):
            if sub.overflowed:
                break
            await asyncio.sleep(0.05)
        assert sub.overflowed, "the browser is told its stream has a hole"
        # And the listener comes back: new events flow again.
        fresh = bus.subscribe(lambda e: True)
        for _ in range(100):
            bus.publish([_event(1)])
            try:
                event = await asyncio.wait_for(fresh.queue.get(), 0.2)
                break
            except TimeoutError:
                continue
        assert event.data == {"n": 1}
    finally:
        await bus.stop()


@pytest.fixture
def two_workers(settings: Settings, redis_url: str) -> Iterator[tuple[TestClient, TestClient]]:
    shared = settings.model_copy(
        update={"redis_url": redis_url, "redis_namespace": f"test-{uuid.uuid4().hex}"}
    )
    with (
        TestClient(create_app(shared), base_url="http://testserver") as one,
        TestClient(create_app(shared), base_url="http://testserver") as two,
    ):
        yield one, two


def test_a_message_taken_in_by_one_worker_reaches_an_agent_on_another(
    two_workers: tuple[TestClient, TestClient], session: Session
) -> None:
    one, two = two_workers
    w = build_world(session)
    token = do_create_token(session=session, agent=w.admin, label="integration")
    session.commit()
    login(two, "dana@example.com")
    with two.websocket_connect("/ws", headers=ORIGIN) as ws:
        ws.receive_json()  # hello
        posted = one.post(
            f"/api/v1/inboxes/{w.api.id}/messages",
            json={
                "contact": {"identifier": "c-9", "name": "Cleo"},
                "content": "Taken in by worker one",
                "external_id": "x-1",
                "team_id": w.support.id,
            },
            headers={"authorization": f"Bearer {token}"},
        )
        assert posted.status_code == 201, posted.text
        frame = next_frame(ws, lambda f: f["type"] == "message.created")
        assert frame["data"]["conversation_id"] == posted.json()["conversation_id"]
        assert "Taken in by worker one" in "".join(frame.get("html", {}).values())


def test_agents_on_different_workers_see_each_other_viewing(
    two_workers: tuple[TestClient, TestClient], session: Session
) -> None:
    one, two = two_workers
    w = build_world(session)
    c = customer_writes(session, w.webchat, team=w.support).conversation
    login(one, "maria@example.com")
    login(two, "dana@example.com")
    with (
        one.websocket_connect("/ws", headers=ORIGIN) as maria,
        two.websocket_connect("/ws", headers=ORIGIN) as dana,
    ):
        maria.receive_json()
        dana.receive_json()
        dana.send_json({"type": "viewing", "conversation_id": c.id})
        seen = next_frame(maria, lambda f: f["type"] == "presence")
        assert seen["data"]["viewers"] == [{"agent_id": w.dana.id, "name": "Dana Kowalski"}]
        maria.send_json({"type": "viewing", "conversation_id": c.id})
        both = next_frame(
            dana, lambda f: f["type"] == "presence" and len(f["data"]["viewers"]) == 2
        )
        assert {v["name"] for v in both["data"]["viewers"]} == {"Dana Kowalski", "Maria Lopez"}
        dana.send_json({"type": "left"})
        gone = next_frame(
            maria, lambda f: f["type"] == "presence" and len(f["data"]["viewers"]) == 1
        )
        assert gone["data"]["viewers"] == [{"agent_id": w.manager.id, "name": "Maria Lopez"}]


async def test_list_rows_wait_for_the_message_and_are_not_lost_at_stop(redis_url: str) -> None:
    namespace = f"test-{uuid.uuid4().hex}"
    leaving, staying = (RedisBus(redis_url, namespace=namespace) for _ in range(2))
    await leaving.start()
    await staying.start()
    try:
        sub = staying.subscribe(lambda e: True)
        audience = Audience(conversation_id=7, inbox_id=1, team_id=1, tier=1)
        row = Event("conversation.updated", {"conversation_id": 7, "change": "message"}, audience)
        leaving.publish([_event(1), row])
        first = await asyncio.wait_for(sub.queue.get(), 5)
        assert first.type == "test.tick" and sub.queue.empty(), "the row waits its delay"
        # The publishing worker shuts down before the delay is over: the row still goes out.
        await leaving.stop()
        later = await asyncio.wait_for(sub.queue.get(), 5)
        assert (later.type, later.seq) == ("conversation.updated", first.seq + 1)
    finally:
        await staying.stop()
