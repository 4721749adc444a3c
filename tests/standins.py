"""Local stand-ins for outside services: small HTTP servers on 127.0.0.1 that check what the
real provider would check, record what they received, and can be told to fail."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class StandIn:
    url: str
    received: list[Received] = field(default_factory=list)
    # (path, headers, body) -> (status, response body); the default accepts everything.
    check: Callable[[str, dict[str, str], bytes], tuple[int, bytes]] = lambda path, headers, body: (
        200,
        b"{}",
    )
    arrived: threading.Event = field(default_factory=threading.Event)


@contextmanager
def standin_server() -> Iterator[StandIn]:
    standin = StandIn(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            standin.received.append(Received(self.path, headers, body))
            status, reply = standin.check(self.path, headers, body)
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)
            standin.arrived.set()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    standin.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield standin
    finally:
        server.shutdown()
        server.server_close()
