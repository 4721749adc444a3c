"""Where a customer message's time goes in `do_receive_inbound`, stage by stage, no profiler.

`python -m bench.ingest_stages [--messages N]` feeds bench/ingest.py's stream into a fresh
SQLite file (500 untimed messages first), with `time.perf_counter` around the stages of the
hot path and around every statement's `execute` and `fetchone` on the driver's cursor. A
profiler would slow the Python parts several times more than SQLite's C code and so shift the
picture; this costs about a microsecond a timed call. For finding what to shorten next, not a
benchmark figure (bench/run.py prints those).
"""

from __future__ import annotations

import argparse
import functools
import sqlite3
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlmodel import Session

import inbox.inbound as inbound_module
import inbox.inbound_arrival as arrival_module
import inbox.sla as sla_module
from inbox.conversations import do_receive_inbound

from .ingest import open_target

WARM_UP = 500
seconds: defaultdict[str, float] = defaultdict(float)
calls: Counter[str] = Counter()


def _timed(label: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            seconds[label] += time.perf_counter() - start
            calls[label] += 1

    return timed


class _TimedCursor(sqlite3.Cursor):
    """Times the driver's own work per statement, keyed by the statement's first words."""

    statement = ""

    def execute(self, sql: str, parameters: Any = (), /) -> _TimedCursor:
        if threading.current_thread() is not threading.main_thread():
            # The checkpoint's and the search index's threads: their work, not a message's.
            super().execute(sql, parameters)
            return self
        self.statement = " ".join(sql.split()[:3])[:40]
        start = time.perf_counter()
        try:
            super().execute(sql, parameters)
            return self
        finally:
            seconds[f"SQL {self.statement}"] += time.perf_counter() - start
            calls[f"SQL {self.statement}"] += 1

    def fetchone(self) -> Any:
        if threading.current_thread() is not threading.main_thread():
            return super().fetchone()
        start = time.perf_counter()
        try:
            return super().fetchone()
        finally:
            seconds[f"SQL {self.statement}"] += time.perf_counter() - start


class _TimedConnection(sqlite3.Connection):
    def cursor(self, *args: Any, **kwargs: Any) -> Any:
        return super().cursor(_TimedCursor)

    def commit(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            super().commit()
            return
        start = time.perf_counter()
        try:
            super().commit()
        finally:
            seconds["SQL COMMIT"] += time.perf_counter() - start
            calls["SQL COMMIT"] += 1


# (module, function's name there, label): a name imported into a module is patched where the
# hot path looks it up.
_STAGES: list[tuple[Any, str, str]] = [
    (inbound_module, "read_arrival", "read_arrival"),
    (inbound_module, "new_identity", "new_identity"),
    (inbound_module, "insert_row", "insert_row (message, conversation)"),
    (arrival_module, "insert_row", "insert_row (contact, identity)"),
    (inbound_module, "write_changes", "write_changes (the conversation's UPDATE)"),
    (inbound_module, "record", "record (audit)"),
    (sla_module, "on_change", "sla.on_change"),
    (sla_module, "schedule", "sla.schedule"),
    (Session, "commit", "Session.commit (the SQL COMMIT in it)"),
]


def _instrument() -> None:
    for owner, name, label in _STAGES:
        setattr(owner, name, _timed(label, getattr(owner, name)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=3000)
    count = parser.parse_args().messages
    with tempfile.TemporaryDirectory(prefix="handoff-bench-") as tmp:
        target = open_target(Path(tmp), "stages", None, WARM_UP + count)

        @event.listens_for(target.db.engine, "do_connect")
        def _connect(*args: Any) -> None:  # every new connection from here on is timed
            cparams = args[3]
            cparams["factory"] = _TimedConnection

        target.db.engine.dispose()  # the pool's connections were opened untimed
        for message in target.messages[:WARM_UP]:
            with target.db.session() as session:
                do_receive_inbound(session=session, inbound=message)
        _instrument()
        seconds.clear()
        calls.clear()
        start = time.perf_counter()
        for message in target.messages[WARM_UP:]:
            with target.db.session() as session:
                do_receive_inbound(session=session, inbound=message)
        elapsed = time.perf_counter() - start
        for thread in target.upkeep:
            thread.stop()
    print(f"{count / elapsed:,.0f} messages a second, {elapsed / count * 1e6:,.0f} µs each")
    print(f"{'stage (inclusive: stages nest)':<52} {'µs a message':>12} {'calls':>7}")
    for label, total in sorted(seconds.items(), key=lambda item: -item[1]):
        print(f"{label:<52} {total / count * 1e6:>12,.0f} {calls[label] / count:>7.2f}")


if __name__ == "__main__":
    main()
