"""The floor for the latency benchmark: a bare Starlette POST that broadcasts to websockets.

No database, no sessions, no middleware: the least any Python server on uvicorn can do to
take a POST and put a small JSON frame on 50 sockets. Served like bench/serve_app.py, so the
difference between the two is what Handoff itself costs.
`python -m bench.serve_floor --port PORT [--trace-sockets N]`: with the second, the same
timestamps as the app's (bench/trace.py) are taken here too, so both servers carry the same
instrumentation and the difference stays Handoff's own.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp
from starlette.websockets import WebSocket, WebSocketDisconnect

from .trace import traced


def make_app() -> Starlette:
    sockets: set[WebSocket] = set()
    seq = itertools.count(1)

    async def post(request: Request) -> JSONResponse:
        body = await request.json()
        frame = json.dumps(
            {
                "seq": next(seq),
                "type": "message.created",
                "data": {"message_id": body["id"], "conversation_id": 1, "kind": "incoming"},
            }
        )
        for ws in list(sockets):
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await ws.send_text(frame)
        return JSONResponse({"id": body["id"]}, status_code=201)

    async def socket(ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_text(json.dumps({"seq": 0, "type": "hello", "data": {}}))
        sockets.add(ws)
        try:
            while True:
                await ws.receive_text()
        except WebSocketDisconnect:
            pass
        finally:
            sockets.discard(ws)

    # "/messages", like the app's route: bench/trace.py times POSTs to paths ending so.
    return Starlette(
        routes=[Route("/messages", post, methods=["POST"]), WebSocketRoute("/ws", socket)]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--trace-sockets", type=int, help="time each POST and socket send")
    args = parser.parse_args()
    app: ASGIApp = make_app()
    if args.trace_sockets:
        app = traced(app, args.trace_sockets)
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        ws_ping_interval=20,
        ws_per_message_deflate=False,
    )


if __name__ == "__main__":
    main()
