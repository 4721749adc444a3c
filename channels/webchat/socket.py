"""The widget's websocket at /widget/ws (docs/channels/webchat.md).

`/widget/ws?token=<inbox token>&visitor=<visitor token>[&since=SEQ]`. The bus hands this
connection only events marked for the customer of this visitor's conversation; each message is
read again from the database and sent only if it is the customer's own or an agent's reply, so
a note, an activity line or an agent's typing never reaches the customer's browser.

Frames: `{"seq", "type": "hello" | "message" | "ping" | "resync", "data"}`. A frame that
reconnects with `?since=` gets what it missed, or `resync` (fetch the thread again).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from inbox.errors import HandoffError
from inbox.events import Event
from inbox.models import Contact, Message
from web.i18n import current_locale
from web.realtime import CLOSE_OVERFLOW, CLOSE_POLICY, origin_allowed, parse_since
from web.state import AppState, state

from .language import customer_locale
from .thread import customer_message
from .visitor import Visitor, check_visitor, current_conversation, widget_inbox


class VisitorWatch:
    """What one widget connection may hear: customer events of the visitor's conversation.

    The conversation can change under an open page (a new one starts after a long-resolved
    one), so `refresh` reads it again; the bus filter follows.
    """

    def __init__(self, app: AppState, visitor: Visitor) -> None:
        self.app = app
        self.visitor = visitor
        self.conversation_id: int | None = None
        # Events up to this seq were committed before the conversation id was last read.
        self.checked_at = 0

    def __call__(self, event: Event) -> bool:
        return (
            event.audience.customer
            and self.conversation_id is not None
            and event.audience.conversation_id == self.conversation_id
        )

    def refresh(self) -> int | None:
        """Read the visitor's current conversation. When it changed, the seq to replay from:
        its events published since the previous reading were turned away by the filter."""
        seen = self.app.db.bus.last_seq
        with self.app.db.session() as session:
            conversation = current_conversation(session, self.visitor)
        before = self.conversation_id
        self.conversation_id = conversation.id if conversation else None
        replay_from, self.checked_at = self.checked_at, seen
        return replay_from if before != self.conversation_id else None

    def frame_for(self, event: Event) -> dict[str, Any] | None:
        """The customer's view of an event, or None when they are not to see it."""
        if event.type != "message.created":
            return None
        with self.app.db.session() as session:
            message = session.get(Message, event.data.get("message_id"))
            if message is None or message.conversation_id != self.conversation_id:
                return None
            data = customer_message(session, message)
        return None if data is None else {"seq": event.seq, "type": "message", "data": data}


def _visitor(ws: WebSocket, app: AppState) -> tuple[Visitor, str | None]:
    with app.db.session() as session:
        inbox = widget_inbox(session, ws.query_params.get("token", ""))
        visitor = check_visitor(
            session, app.settings.secret_key, inbox, ws.query_params.get("visitor")
        )
        contact = session.get(Contact, visitor.contact_id)
        return visitor, (contact.language if contact else None)


async def widget_socket(ws: WebSocket) -> None:
    app = state(ws)
    if not origin_allowed(ws, app):
        await ws.close(code=CLOSE_POLICY, reason="origin not allowed")
        return
    try:
        visitor, language = _visitor(ws, app)
    except HandoffError:
        await ws.close(code=CLOSE_POLICY, reason="unknown widget or expired visitor token")
        return
    current_locale.set(customer_locale(ws.headers.get("accept-language"), language))
    await ws.accept()
    watch = VisitorWatch(app, visitor)
    bus = app.db.bus
    # Subscribe before reading the conversation and replaying, so nothing falls in between.
    sub = bus.subscribe(watch)
    watch.refresh()
    last_sent = 0

    async def send(event: Event, *, again: bool = False) -> None:
        nonlocal last_sent
        if event.seq <= last_sent and not again:
            return
        last_sent = max(last_sent, event.seq)
        frame = watch.frame_for(event)
        if frame is not None:
            await ws.send_text(json.dumps(frame))

    try:
        await ws.send_text(json.dumps({"seq": bus.last_seq, "type": "hello", "data": {}}))
        since = parse_since(ws)
        if since is not None:
            missed = bus.replay(since, watch)
            if missed is None:
                await ws.send_text(json.dumps({"seq": bus.last_seq, "type": "resync", "data": {}}))
            else:
                for event in missed:
                    await send(event)
        reader = asyncio.create_task(_drain(ws))
        while not reader.done():
            if sub.overflowed:
                await ws.send_text(json.dumps({"seq": last_sent, "type": "resync", "data": {}}))
                await ws.close(code=CLOSE_OVERFLOW, reason="fell behind")
                break
            getter = asyncio.ensure_future(sub.queue.get())
            done, _ = await asyncio.wait(
                {getter, reader},
                timeout=app.settings.heartbeat_seconds,
                return_when=asyncio.FIRST_COMPLETED,
            )
            if getter in done:
                await send(getter.result())
                continue
            getter.cancel()
            if done:
                break
            await ws.send_text(json.dumps({"seq": last_sent, "type": "ping", "data": {}}))
            replay_from = watch.refresh()
            if replay_from is not None:
                # A new conversation began elsewhere (another tab): send what it has so far.
                for event in bus.replay(replay_from, watch) or []:
                    await send(event, again=True)
        reader.cancel()
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        bus.unsubscribe(sub)


async def _drain(ws: WebSocket) -> None:
    """The widget sends nothing we act on; reading tells us when it goes away."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            await ws.receive_text()
