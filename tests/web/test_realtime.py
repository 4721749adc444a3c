"""The agents' websocket: who hears what, replay after a reconnect, presence and typing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlmodel import Session
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from inbox.accounts import do_end_sessions
from inbox.bus import MemoryBus
from inbox.events import Audience, Event
from tests.conftest import csrf_headers, login
from tests.factories import build_world, customer_writes

ORIGIN = {"origin": "http://testserver"}
Frame = dict[str, Any]


def next_frame(ws: Any, wanted: Callable[[Frame], bool], limit: int = 40) -> Frame:
    """The first frame `wanted` accepts, skipping heartbeats; fails after `limit` frames."""
    for _ in range(limit):
        frame: Frame = ws.receive_json()
        if frame["type"] != "ping" and wanted(frame):
            return frame
    raise AssertionError("the expected frame never came")


def first_real_frame(ws: Any) -> Frame:
    return next_frame(ws, lambda f: f["type"] not in ("hello", "presence"))


def test_socket_needs_a_session_and_our_origin(app_client: TestClient, session: Session) -> None:
    build_world(session)
    with pytest.raises(WebSocketDisconnect), app_client.websocket_connect("/ws", headers=ORIGIN):
        pass
    login(app_client, "dana@example.com")
    with (
        pytest.raises(WebSocketDisconnect),
        app_client.websocket_connect("/ws", headers={"origin": "http://evil.example"}),
    ):
        pass
    with app_client.websocket_connect("/ws", headers=ORIGIN) as ws:
        assert ws.receive_json()["type"] == "hello"


def test_ending_an_agents_sessions_signs_out_their_pages_and_closes_their_socket(
    app_client: TestClient, session: Session
) -> None:
    w = build_world(session)
    login(app_client, "dana@example.com")
    assert app_client.get("/inbox", follow_redirects=False).status_code == 200
    with app_client.websocket_connect("/ws", headers=ORIGIN) as ws:
        assert ws.receive_json()["type"] == "hello"
        do_end_sessions(session=session, agent=w.dana)
        session.commit()
        # Within a heartbeat (0.5 s in tests) the open socket learns it and closes.
        with pytest.raises(WebSocketDisconnect) as closed:
            next_frame(ws, lambda f: False)
        assert closed.value.code == 1008
    assert app_client.get("/inbox", follow_redirects=False).status_code == 303
    with pytest.raises(WebSocketDisconnect), app_client.websocket_connect("/ws", headers=ORIGIN):
        pass
    login(app_client, "dana@example.com")  # signing in again starts a session that counts
    assert app_client.get("/inbox", follow_redirects=False).status_code == 200


def test_agents_hear_only_conversations_they_may_see(
    app_client: TestClient, session: Session
) -> None:
    w = build_world(session)
    support = customer_writes(session, w.api, "support case", who="a", team=w.support)
    billing = customer_writes(session, w.api, "billing case", who="b", team=w.billing)
    login(app_client, "bob@example.com")
    with app_client.websocket_connect("/ws", headers=ORIGIN) as ws:
        ws.receive_json()  # hello
        bus = app_client.app.state.handoff.db.bus  # type: ignore[attr-defined]
        # Published through the app's own bus, as a channel would.
        from inbox.conversations import do_reply

        with app_client.app.state.handoff.db.session() as s:  # type: ignore[attr-defined]
            from inbox.models import Conversation

            c1 = s.get(Conversation, support.conversation.id)
            c2 = s.get(Conversation, billing.conversation.id)
            assert c1 is not None and c2 is not None
            do_reply(session=s, conversation=c1, agent=w.dana, content="secret support reply")
            do_reply(session=s, conversation=c2, agent=w.bob, content="billing reply")
        frame = first_real_frame(ws)
        assert frame["data"]["conversation_id"] == billing.conversation.id, (
            "bob must never hear of the Support L1 conversation"
        )
        assert bus.last_seq >= frame["seq"]


def test_a_reply_reaches_other_agents_with_its_fragment(
    app_client: TestClient, session: Session
) -> None:
    w = build_world(session)
    c = customer_writes(session, w.webchat, "need help", team=w.support).conversation
    watcher = TestClient(app_client.app, base_url="http://testserver")
    login(watcher, "maria@example.com")
    login(app_client, "dana@example.com")
    with watcher.websocket_connect("/ws", headers=ORIGIN) as ws:
        ws.receive_json()
        app_client.post(
            f"/conversations/{c.id}/reply",
            data={"content": "Dana's <b>answer</b>"},
            headers=csrf_headers(app_client),
        )
        frame = next_frame(
            ws, lambda f: f["type"] == "message.created" and f["data"]["kind"] == "outgoing"
        )
        assert "Dana&#39;s &lt;b&gt;answer&lt;/b&gt;" in frame["html"]["message"]
        row = next_frame(ws, lambda f: f["type"] == "conversation.updated")
        assert f'id="row-{c.id}"' in row["html"]["row"]


def test_reconnecting_browser_replays_what_it_missed(
    app_client: TestClient, session: Session
) -> None:
    w = build_world(session)
    login(app_client, "dana@example.com")
    with app_client.websocket_connect("/ws", headers=ORIGIN) as ws:
        last = ws.receive_json()["seq"]
    customer_writes(session, w.webchat, "missed one", who="m1", team=w.support)
    # The test session publishes on the domain-test bus; send the same through the app's bus.
    app_bus: MemoryBus = app_client.app.state.handoff.db.bus  # type: ignore[attr-defined]
    audience = Audience(conversation_id=99, team_id=w.support.id)
    app_bus.publish(
        [Event("conversation.updated", {"conversation_id": 99, "change": "x"}, audience)]
    )
    with app_client.websocket_connect(f"/ws?since={last}", headers=ORIGIN) as ws:
        ws.receive_json()  # hello
        frame = first_real_frame(ws)
        assert frame["type"] == "conversation.updated" and frame["seq"] > last


def test_a_gap_too_old_to_replay_asks_for_a_resync(
    app_client: TestClient, session: Session
) -> None:
    build_world(session)
    app_bus: MemoryBus = app_client.app.state.handoff.db.bus  # type: ignore[attr-defined]
    for i in range(201):
        app_bus.publish([Event("x", {"i": i}, Audience(agent_ids=frozenset({-1})))])
    app_bus.publish([Event("x", {}, Audience(agent_ids=frozenset({-1})))])
    login(app_client, "dana@example.com")
    with app_client.websocket_connect("/ws?since=1", headers=ORIGIN) as ws:
        ws.receive_json()
        assert first_real_frame(ws)["type"] == "resync"


def test_presence_and_typing_reach_colleagues_only(
    app_client: TestClient, session: Session
) -> None:
    w = build_world(session)
    c = customer_writes(session, w.webchat, team=w.support).conversation
    colleague = TestClient(app_client.app, base_url="http://testserver")
    outsider = TestClient(app_client.app, base_url="http://testserver")
    login(colleague, "maria@example.com")
    login(outsider, "bob@example.com")
    login(app_client, "dana@example.com")
    with (
        colleague.websocket_connect("/ws", headers=ORIGIN) as maria,
        outsider.websocket_connect("/ws", headers=ORIGIN) as bob,
        app_client.websocket_connect("/ws", headers=ORIGIN) as dana,
    ):
        for ws in (maria, bob, dana):
            ws.receive_json()
        dana.send_json({"type": "viewing", "conversation_id": c.id})
        seen = next_frame(maria, lambda f: f["type"] == "presence")
        assert seen["data"]["viewers"] == [{"agent_id": w.dana.id, "name": "Dana Kowalski"}]
        dana.send_json({"type": "typing", "conversation_id": c.id, "box": "reply"})
        typing = next_frame(maria, lambda f: f["type"] == "typing")
        assert typing["data"]["name"] == "Dana Kowalski"
        # Bob (Billing) may not see the conversation: his next frame is his own business.
        bus: MemoryBus = app_client.app.state.handoff.db.bus  # type: ignore[attr-defined]
        bus.publish([Event("ping-bob", {}, Audience(agent_ids=frozenset({w.bob.id or 0})))])
        assert first_real_frame(bob)["type"] == "ping-bob"
        dana.send_json({"type": "left"})
        gone = next_frame(maria, lambda f: f["type"] == "presence")
        assert gone["data"]["viewers"] == []


def test_mention_notification_arrives_live(app_client: TestClient, session: Session) -> None:
    w = build_world(session)
    c = customer_writes(session, w.webchat, team=w.support).conversation
    maria = TestClient(app_client.app, base_url="http://testserver")
    login(maria, "maria@example.com")
    login(app_client, "dana@example.com")
    with maria.websocket_connect("/ws", headers=ORIGIN) as ws:
        ws.receive_json()
        app_client.post(
            f"/conversations/{c.id}/note",
            data={"content": "@Maria look"},
            headers=csrf_headers(app_client),
        )
        frame = next_frame(ws, lambda f: f["type"] == "notification.created")
        assert "Dana Kowalski mentioned you" in frame["data"]["text"]
