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
from inbox.bus import Subscription
from inbox.events import Event
from inbox.models import Agent, Conversation

from .eager import start_eagerly
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
    outbox = Outbox(ws, sub, locale)
    conn = _Connection(ws, app_state, agent)
    loop_time = asyncio.get_running_loop().time

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
            await asyncio.sleep(max(0.05, min(outbox.last_written, checked) + beat - loop_time()))
            if loop_time() - checked >= beat:
                checked = loop_time()
                if not await asyncio.to_thread(still_signed_in):
                    await ws.close(code=CLOSE_POLICY, reason="signed out")
                    return
            if loop_time() - outbox.last_written >= beat:
                await outbox.ping()

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
                    await outbox.send(event)
        sub.take_now = outbox.take_now
        tasks = [
            asyncio.create_task(conn.read()),
            asyncio.create_task(outbox.pump()),
            asyncio.create_task(heartbeat()),
        ]
        try:
            # Whichever ends first (the browser left, the queue overflowed, a send failed)
            # ends the connection.
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            tasks.extend(outbox.stop())
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


class Outbox:
    """Frames to one browser, in the order published, each event once.

    An event that finds nothing pending is written on the spot, in the bus's own call
    (`take_now`): one event reaches 50 browsers without 50 task switches. Anything else
    waits in the subscription's bounded queue for `pump`, which also waits for a send that
    could not finish on the spot (a browser reading slowly), so order holds either way.
    """

    def __init__(self, ws: WebSocket, sub: Subscription, locale: str) -> None:
        self.ws = ws
        self.sub = sub
        self.locale = locale
        self.loop = asyncio.get_running_loop()
        self.last_sent = 0
        self.last_written = self.loop.time()
        self.pumping = False
        self.unfinished: asyncio.Task[None] | None = None

    def _next_frame(self, event: Event) -> str | None:
        if event.seq <= self.last_sent:
            return None  # replayed and live both: sent once
        self.last_sent = event.seq
        self.last_written = self.loop.time()
        return event.frame_text(self.locale)

    async def send(self, event: Event) -> None:
        frame = self._next_frame(event)
        if frame is not None:
            await self.ws.send_text(frame)

    def take_now(self, event: Event) -> bool:
        """Write `event` at once if nothing is before it; False leaves it to the queue."""
        if self.pumping:
            return False
        unfinished = self.unfinished
        if unfinished is not None:
            if not unfinished.done() or unfinished.cancelled() or unfinished.exception():
                return False  # the pump waits for it, or meets its error and ends
            self.unfinished = None
        try:
            if asyncio.get_running_loop() is not self.loop:
                return False
        except RuntimeError:
            return False  # published off the loop: the queue hands it over
        before = self.last_sent
        frame = self._next_frame(event)
        if frame is None:
            return True
        try:
            self.unfinished = start_eagerly(self.ws.send_text(frame))
        except Exception:
            # The socket is gone: leave the event to the pump, whose own send fails alike
            # and ends the connection, as it always has.
            self.last_sent = before
            return False
        return True

    async def pump(self) -> None:
        """Events that had to wait, in order: one await per event, no timer per event."""
        sub = self.sub
        while True:
            if sub.overflowed:
                resync = {"seq": self.last_sent, "type": "resync", "data": {}}
                await self.ws.send_text(json.dumps(resync))
                await self.ws.close(code=CLOSE_OVERFLOW, reason="fell behind")
                return
            event = await self._next_or_loss()
            if event is None:
                continue
            self.pumping = True
            try:
                if self.unfinished is not None:
                    unfinished, self.unfinished = self.unfinished, None
                    await unfinished
                await self.send(event)
                # Drain what is already queued, but let every other connection send this
                # event first: otherwise the 50th agent's first frame would wait behind 49
                # agents' whole backlogs.
                while not sub.queue.empty() and not sub.overflowed:
                    await asyncio.sleep(0)
                    await self.send(sub.queue.get_nowait())
            finally:
                self.pumping = False

    async def _next_or_loss(self) -> Event | None:
        """The next queued event, or None when events were lost meanwhile (Redis went away)
        with nothing queued. A task per wait is affordable: most events never wait here."""
        if not self.sub.queue.empty():
            return self.sub.queue.get_nowait()
        getter = asyncio.ensure_future(self.sub.queue.get())
        lost = asyncio.ensure_future(self.sub.lost.wait())
        try:
            done, _ = await asyncio.wait({getter, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in (getter, lost):
                if not waiter.done():
                    waiter.cancel()  # a cancelled get takes nothing off the queue
        return getter.result() if getter in done else None

    async def ping(self) -> None:
        self.last_written = self.loop.time()
        await self.ws.send_text(json.dumps({"seq": self.last_sent, "type": "ping", "data": {}}))

    def stop(self) -> list[asyncio.Task[None]]:
        """No more sends on the spot; the send still under way, to be cancelled."""
        self.sub.take_now = None
        return [self.unfinished] if self.unfinished is not None else []


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
