"""Where a message's time goes inside the served app, for the latency benchmark.

`traced(app)` wraps the ASGI app (bench/serve_app.py does, in its own process only) and
times, per message: the whole API POST, `do_receive_inbound` (which publishes after its
commit, so it includes the fragment rendering), the bus's delivery, and the websocket sends
that follow each delivery. `GET /__bench/trace` answers the samples as JSON. Nothing in the
app changes; a timestamp is taken around calls that happen anyway.
"""

from __future__ import annotations

import bisect
import json
import time
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from inbox import conversations
from inbox.bus import MemoryBus

TRACE_PATH = "/__bench/trace"


class Samples:
    def __init__(self) -> None:
        self.http: list[float] = []
        self.receive: list[float] = []
        self.deliver: list[float] = []
        self.delivered_at: list[float] = []
        self.sent_at: list[float] = []

    def fanout(self, sockets: int) -> tuple[list[float], list[float]]:
        """Per delivery: seconds until the `sockets`-th and the `2 * sockets`-th send."""
        first, both = [], []
        for at in self.delivered_at:
            i = bisect.bisect_left(self.sent_at, at)
            if i + 2 * sockets - 1 < len(self.sent_at):
                first.append(self.sent_at[i + sockets - 1] - at)
                both.append(self.sent_at[i + 2 * sockets - 1] - at)
        return first, both

    def as_json(self, sockets: int) -> bytes:
        first, both = self.fanout(sockets)
        return json.dumps(
            {
                "http": self.http,
                "receive": self.receive,
                "deliver": self.deliver,
                "fanout_first": first,
                "fanout_all": both,
            }
        ).encode()


def _timed(samples: list[float], call: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return call(*args, **kwargs)
        finally:
            samples.append(time.perf_counter() - start)

    return wrapper


def traced(app: ASGIApp, sockets: int) -> ASGIApp:
    samples = Samples()
    receive_inbound = conversations.do_receive_inbound
    conversations.do_receive_inbound = _timed(samples.receive, receive_inbound)
    deliver = MemoryBus._deliver

    def timed_deliver(bus: MemoryBus, batch: list[Any]) -> None:
        start = time.perf_counter()
        deliver(bus, batch)
        end = time.perf_counter()
        samples.deliver.append(end - start)
        samples.delivered_at.append(end)

    MemoryBus._deliver = timed_deliver  # type: ignore[method-assign, assignment]
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
            samples.http.append(time.perf_counter() - start)

    return wrapper
