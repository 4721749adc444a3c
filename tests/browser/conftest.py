"""Real Chromium (Debian's /usr/bin/chromium, driven by Playwright) against the real app
served by uvicorn on a loopback port, with a customer's site on another port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.sync_api import Browser, Playwright, sync_playwright

from inbox.settings import Settings
from main import create_app

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def live_server(settings: Settings) -> Iterator[str]:
    """The app, served for real; yields its base URL."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: make system-deps installs it")
    port = free_port()
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the app did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def customer_site() -> Iterator[Any]:
    """A customer's own website on another origin; `serve(html)` sets its page."""
    page = {"html": b"<!doctype html><title>Shop</title>"}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(page["html"])

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    class Site:
        url = f"http://127.0.0.1:{server.server_address[1]}/"

        @staticmethod
        def serve(html: str) -> None:
            page["html"] = html.encode()

    yield Site
    server.shutdown()
    server.server_close()


@pytest.fixture
def playwright_instance() -> Iterator[Playwright]:
    # Per test: sync Playwright runs an event loop on this thread, which must be gone before
    # the async tests that follow start theirs.
    with sync_playwright() as p:
        yield p


@pytest.fixture
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    browser = playwright_instance.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()
