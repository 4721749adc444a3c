"""The real app for the latency benchmark, as `handoff serve` runs it, on a given database.

`python -m bench.serve_app --database-url URL --port PORT`; bench/latency.py starts and stops it.
"""

from __future__ import annotations

import argparse

import uvicorn
from starlette.types import ASGIApp

from inbox.settings import Settings
from main import create_app

from .trace import traced


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--trace-sockets", type=int, help="time the stages of each message (bench/trace.py)"
    )
    args = parser.parse_args()
    settings = Settings(
        database_url=args.database_url,
        host="127.0.0.1",
        port=args.port,
        secret_key="bench-only-secret",
        demo=False,
        # Fifty agents sign in from one address within a second.
        login_rate_limit="1000/minute",
    )
    app: ASGIApp = create_app(settings)
    if args.trace_sockets:
        app = traced(app, args.trace_sockets)
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        ws_ping_interval=20,
        # Compressing each small frame once per socket costs more CPU than it saves.
        ws_per_message_deflate=False,
    )


if __name__ == "__main__":
    main()
