"""The agents' websocket at /ws (docs/concepts/real-time.md).

Frames are `{"seq", "type", "data", "html"?}`. A browser reconnects with `?since=SEQ` and gets
what it missed, or `{"type": "resync"}` when that is no longer kept (it then refreshes its
fragments). A connection whose queue overflows gets `resync` too, and is closed, so one slow
browser holds up nobody. Browsers send `viewing`, `left` and `typing`; they become presence
events for the other agents who may see that conversation.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from inbox.access import EventPredicate, audience_of, can_see_conversation, scope_for
from inbox.events import Event
from inbox.models import Agent, Conversation

from .security import own_origin
from .state import AppState, session_agent, state

log = logging.getLogger("handoff.ws")

CLOSE_POLICY = 1008
# 1013 "try again later": the browser reconnects and resumes with ?since=.
CLOSE_OVERFLOW = 1013


def origin_allowed(ws: WebSocket, app_state: AppState) -> bool:
    # A browser always sends Origin on a websocket; a page elsewhere must not ride the cookie.
    return own_origin(ws.headers, app_state.settings)


def parse_since(ws: WebSocket) -> int | None:
    raw = ws.query_params.get("since")
    try:
        return int(raw) if raw else None
    except ValueError:
        return None


async def agent_socket(ws: WebSocket) -> None:
    app_state = state(ws)
    if not origin_allowed(ws, app_state):
        await ws.close(code=CLOSE_POLICY, reason="origin not allowed")
        return
    with app_state.db.session() as session:
        agent = session_agent(ws, session)
        if agent is None:
            await ws.close(code=CLOSE_POLICY, reason="sign in first")
            return
        scope = scope_for(session, agent)
        locale = agent.locale
    await ws.accept()
    app_state.connected_locales[locale] += 1
    accepts = EventPredicate(scope)
    bus = app_state.db.bus
    # Subscribe before replaying, so nothing falls between the two; duplicates are skipped.
    sub = bus.subscribe(accepts)
    last_sent = 0
    conn = _Connection(ws, app_state, agent)

    loop_time = asyncio.get_running_loop().time
    last_written = loop_time()

    async def send(event: Event) -> None:
        nonlocal last_sent, last_written
        if event.seq <= last_sent:
            return
        last_sent = event.seq
        last_written = loop_time()
        await ws.send_text(event.frame_text(locale))

    async def pump() -> None:
        """Events to the browser as they come: one await per event, no timer per event."""
        while True:
            if sub.overflowed:
                await ws.send_text(json.dumps({"seq": last_sent, "type": "resync", "data": {}}))
                await ws.close(code=CLOSE_OVERFLOW, reason="fell behind")
                return
            await send(await sub.queue.get())
            # Drain what is already queued, but let every other connection send this event
            # first: otherwise the 50th agent's first frame would wait behind 49 agents'
            # whole backlogs.
            while not sub.queue.empty() and not sub.overflowed:
                await asyncio.sleep(0)
                await send(sub.queue.get_nowait())

    def still_signed_in() -> bool:
        with app_state.db.session() as session:
            return session_agent(ws, session) is not None

    async def heartbeat() -> None:
        """A ping after a quiet spell, so proxies keep the connection and the browser knows;
        and, once a beat, a look at whether the agent's sessions were ended meanwhile (by
        `handoff sign-out`, maybe in another process): then the socket closes."""
        beat = app_state.settings.heartbeat_seconds
        checked = loop_time()
        while True:
            await asyncio.sleep(max(0.05, min(last_written, checked) + beat - loop_time()))
            if loop_time() - checked >= beat:
                checked = loop_time()
                if not await asyncio.to_thread(still_signed_in):
                    await ws.close(code=CLOSE_POLICY, reason="signed out")
                    return
            if loop_time() - last_written >= beat:
                await ping()

    async def ping() -> None:
        nonlocal last_written
        last_written = loop_time()
        await ws.send_text(json.dumps({"seq": last_sent, "type": "ping", "data": {}}))

    try:
        since = parse_since(ws)
        await ws.send_text(
            json.dumps({"seq": bus.last_seq, "type": "hello", "data": {"agent_id": agent.id}})
        )
        if since is not None:
            missed = bus.replay(since, accepts)
            if missed is None:
                await ws.send_text(json.dumps({"seq": bus.last_seq, "type": "resync", "data": {}}))
            else:
                for event in missed:
                    await send(event)
        tasks = [
            asyncio.create_task(conn.read()),
            asyncio.create_task(pump()),
            asyncio.create_task(heartbeat()),
        ]
        try:
            # Whichever ends first (the browser left, the queue overflowed, a send failed)
            # ends the connection.
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
                    await task
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        bus.unsubscribe(sub)
        conn.leave_all()
        app_state.connected_locales[locale] -= 1
        if app_state.connected_locales[locale] <= 0:
            del app_state.connected_locales[locale]


class _Connection:
    """What one agent's browser tells us: which conversation it shows, when it types."""

    def __init__(self, ws: WebSocket, app_state: AppState, agent: Agent) -> None:
        self.ws = ws
        self.state = app_state
        self.agent = agent
        self.viewing: int | None = None

    async def read(self) -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            while True:
                raw = await self.ws.receive_text()
                try:
                    msg = json.loads(raw)
                except (ValueError, RecursionError):
                    continue
                if isinstance(msg, dict):
                    self.handle(msg)

    def handle(self, msg: dict[str, Any]) -> None:
        kind = msg.get("type")
        conversation_id = msg.get("conversation_id")
        if kind == "left" or (kind == "viewing" and conversation_id != self.viewing):
            self.leave_all()
        if not isinstance(conversation_id, int):
            return
        conversation = self._visible(conversation_id)
        if conversation is None:
            return
        assert self.agent.id is not None
        if kind == "viewing" and self.viewing is None:
            self.viewing = conversation_id
            self.state.presence.view(conversation_id, self.agent.id, self.agent.name)
            self._publish_presence(conversation)
        elif kind == "typing":
            box = "note" if msg.get("box") == "note" else "reply"
            self.state.db.bus.publish(
                [
                    Event(
                        "typing",
                        {
                            "conversation_id": conversation_id,
                            "agent_id": self.agent.id,
                            "name": self.agent.name,
                            "box": box,
                        },
                        audience_of(conversation),
                    )
                ]
            )

    def _visible(self, conversation_id: int) -> Conversation | None:
        with self.state.db.session() as session:
            conversation = session.get(Conversation, conversation_id)
            agent = session.get(Agent, self.agent.id)
            if conversation is None or agent is None:
                return None
            return (
                conversation
                if can_see_conversation(scope_for(session, agent), conversation)
                else None
            )

    def _publish_presence(self, conversation: Conversation) -> None:
        assert conversation.id is not None
        self.state.db.bus.publish(
            [
                Event(
                    "presence",
                    {
                        "conversation_id": conversation.id,
                        "viewers": self.state.presence.viewers(conversation.id),
                    },
                    audience_of(conversation),
                )
            ]
        )

    def leave_all(self) -> None:
        if self.viewing is None or self.agent.id is None:
            return
        conversation_id, self.viewing = self.viewing, None
        self.state.presence.leave(conversation_id, self.agent.id)
        with self.state.db.session() as session:
            conversation = session.get(Conversation, conversation_id)
        if conversation is not None:
            self._publish_presence(conversation)


routes = [WebSocketRoute("/ws", agent_socket)]
