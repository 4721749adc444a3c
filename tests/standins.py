"""Local stand-ins for outside services: small HTTP servers on 127.0.0.1 that check what the
real provider would check, record what they received, and can be told to fail.

`check(path, headers, body)` decides the answer: `(status, body)` or `(status, body,
extra_headers)`, e.g. `(429, b"...", {"retry-after": "1"})`; a `content-type` among them
replaces `content_type`. Set `delay` to make every answer late (a provider timing out). GET
requests reach the same check with an empty body.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = tuple[int, bytes] | tuple[int, bytes, dict[str, str]]


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    method: str = "POST"

    def json(self) -> Any:
        return json.loads(self.body)


def _accept_all(path: str, headers: dict[str, str], body: bytes) -> Answer:
    return 200, b"{}"


@dataclass
class StandIn:
    url: str
    received: list[Received] = field(default_factory=list)
    # (path, headers, body) -> answer; the default accepts everything.
    check: Callable[[str, dict[str, str], bytes], Answer] = _accept_all
    arrived: threading.Event = field(default_factory=threading.Event)
    # Seconds to wait before answering.
    delay: float = 0.0
    content_type: str = "application/json"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Block until `count` requests arrived (from a background sender), then return them."""
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} requests, got {len(self.received)}")
            time.sleep(0.02)
        return list(self.received)


@contextmanager
def standin_server() -> Iterator[StandIn]:
    standin = StandIn(url="")

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, method: str) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            standin.received.append(Received(self.path, headers, body, method))
            answer = standin.check(self.path, headers, body)
            status, reply = answer[0], answer[1]
            extra = answer[2] if len(answer) == 3 else {}
            if standin.delay:
                time.sleep(standin.delay)
            try:
                self.send_response(status)
                # An answer's own content-type replaces the stand-in's (a plain-text "OK").
                extra = {"content-type": standin.content_type} | extra
                self.send_header("content-length", str(len(reply)))
                for name, value in extra.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(reply)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting (a timeout test)
            standin.arrived.set()

        def do_POST(self) -> None:
            self._answer("POST")

        def do_GET(self) -> None:
            self._answer("GET")

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    standin.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield standin
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class FormField:
    """One field of a multipart/form-data body."""

    value: bytes
    filename: str | None
    content_type: str


def form_fields(headers: dict[str, str], body: bytes) -> dict[str, FormField] | None:
    """The fields of a multipart/form-data body by name; None for any other body."""
    content_type = headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        return None
    head = f"content-type: {content_type}\r\n\r\n".encode()
    form = BytesParser(EmailMessage, policy=HTTP).parsebytes(head + body)
    assert isinstance(form, EmailMessage)
    if not form.is_multipart():
        return None
    fields: dict[str, FormField] = {}
    for part in form.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            fields[name] = FormField(payload, part.get_filename(), part.get_content_type())
    return fields
