"""The real app for the latency benchmark, as `handoff serve` runs it, on a given database.

`python -m bench.serve_app --database-url URL --port PORT`; bench/latency.py starts and stops it.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import signal
import sys
from datetime import datetime, timedelta

import time_machine
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
    parser.add_argument(
        "--travel-to",
        type=datetime.fromisoformat,
        help="run the whole process on a wall clock that reaches this moment LEAD seconds after "
        "start (time-machine): a stored dataset's SLA timers then come due on cue",
    )
    parser.add_argument("--lead", type=float, default=0.0)
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
    if args.travel_to is not None:
        # Wall-clock time only: the event loop's monotonic clock is left alone.
        time_machine.travel(args.travel_to - timedelta(seconds=args.lead), tick=True).start()
    app: ASGIApp = create_app(settings)
    if args.trace_sockets:
        app = traced(app, args.trace_sockets)
    # HANDOFF_BENCH_PROFILE=FILE: cProfile the whole server, stats written to FILE at exit.
    profile_to = os.environ.get("HANDOFF_BENCH_PROFILE")
    profiler = cProfile.Profile() if profile_to else None
    if profiler is not None:
        # uvicorn raises the SIGTERM it caught again once it has shut down: end cleanly then.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        profiler.enable()
    try:
        _serve(app, args.port)
    finally:
        if profiler is not None and profile_to:
            profiler.disable()
            profiler.dump_stats(profile_to)


def _serve(app: ASGIApp, port: int) -> None:
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        ws_ping_interval=20,
        # Compressing each small frame once per socket costs more CPU than it saves.
        ws_per_message_deflate=False,
    )


if __name__ == "__main__":
    main()
