"""Where a message's time goes inside the served app, for the latency benchmark.

`traced(app)` wraps the ASGI app (bench/serve_app.py does, in its own process only) and
times, per message: the whole API POST, `do_receive_inbound` (which publishes after its
commit, so it includes the fragment rendering and the sends of the sockets with nothing
pending), the fragment rendering, and the websocket sends that follow it.
`GET /__bench/trace` answers the samples as JSON. Nothing in the app changes; a timestamp is
taken around calls that happen anyway.
"""

from __future__ import annotations

import bisect
import gc
import json
import time
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from inbox import conversations
from inbox.bus import MemoryBus
from inbox.events import Event

TRACE_PATH = "/__bench/trace"


class Samples:
    def __init__(self) -> None:
        self.http: list[float] = []
        self.receive: list[float] = []
        self.deliver: list[float] = []
        self.delivered_at: list[float] = []
        self.sent_at: list[float] = []
        # Per API POST, on the clock every process on the machine shares (perf_counter is
        # CLOCK_MONOTONIC): (ASGI call began, do_receive_inbound began, ended, call ended).
        self.posts: list[tuple[float, float, float, float]] = []
        self._receive_span: tuple[float, float] = (0.0, 0.0)
        # The collector's pauses: (began, seconds, generation).
        self.gc: list[tuple[float, float, int]] = []
        self._gc_began = 0.0

    def on_gc(self, phase: str, info: dict[str, int]) -> None:
        now = time.perf_counter()
        if phase == "start":
            self._gc_began = now
        else:
            self.gc.append((self._gc_began, now - self._gc_began, info["generation"]))

    def fanout(self, sockets: int) -> list[float]:
        """Per message.created delivered: seconds until the `sockets`-th send after it."""
        first = []
        for at in self.delivered_at:
            i = bisect.bisect_left(self.sent_at, at)
            if i + sockets - 1 < len(self.sent_at):
                first.append(self.sent_at[i + sockets - 1] - at)
        return first

    def sends_in_posts(self, sockets: int) -> list[float]:
        """Per POST that wrote `sockets` frames itself: seconds from the first to the last."""
        spans = []
        for start, *_, end in self.posts:
            i, j = bisect.bisect_left(self.sent_at, start), bisect.bisect_right(self.sent_at, end)
            if j - i >= sockets:
                spans.append(self.sent_at[i + sockets - 1] - self.sent_at[i])
        return spans

    def as_json(self, sockets: int) -> bytes:
        first = self.fanout(sockets)
        return json.dumps(
            {
                "http": self.http,
                "receive": self.receive,
                "deliver": self.deliver,
                "fanout_first": first,
                "sends_in_post": self.sends_in_posts(sockets),
                "posts": self.posts,
                "sent_at": self.sent_at,
                "gc": self.gc,
            }
        ).encode()


def traced(app: ASGIApp, sockets: int) -> ASGIApp:
    samples = Samples()
    gc.callbacks.append(samples.on_gc)
    receive_inbound = conversations.do_receive_inbound

    def timed_receive(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return receive_inbound(*args, **kwargs)
        finally:
            end = time.perf_counter()
            samples.receive.append(end - start)
            samples._receive_span = (start, end)

    conversations.do_receive_inbound = timed_receive
    # Rendered and numbered, the event is handed to the sockets: that moment starts the
    # fan-out, whether a socket writes it on the spot or from its own task.
    enrich = MemoryBus._enrich

    def timed_enrich(bus: MemoryBus, event: Event) -> None:
        start = time.perf_counter()
        enrich(bus, event)
        end = time.perf_counter()
        if event.type == "message.created":
            samples.deliver.append(end - start)
            samples.delivered_at.append(end)

    MemoryBus._enrich = timed_enrich  # type: ignore[method-assign, assignment]
    send_text = WebSocket.send_text

    async def timed_send_text(ws: WebSocket, data: str) -> None:
        await send_text(ws, data)
        samples.sent_at.append(time.perf_counter())

    WebSocket.send_text = timed_send_text  # type: ignore[method-assign, assignment]

    async def wrapper(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        if scope["path"] == TRACE_PATH:
            body = samples.as_json(sockets)
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        start = time.perf_counter()
        await app(scope, receive, send)
        if scope["method"] == "POST" and scope["path"].endswith("/messages"):
            end = time.perf_counter()
            samples.http.append(end - start)
            samples.posts.append((start, *samples._receive_span, end))

    return wrapper
