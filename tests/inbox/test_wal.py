"""The write-ahead log is copied back by the checkpoint thread, not inside commits."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from starlette.testclient import TestClient

from inbox.db import make_engine
from inbox.settings import Settings
from inbox.wal import SAFETY_NET_PAGES, WalCheckpointer
from main import create_app
from tests.conftest import BACKEND

pytestmark = pytest.mark.skipif(BACKEND != "sqlite", reason="SQLite's write-ahead log")


def _write_some(url: str, rows: int) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS filler (id INTEGER PRIMARY KEY, body TEXT)"))
    for n in range(rows):
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO filler (body) VALUES (:b)"), {"b": f"row {n} " * 50})
    engine.dispose()


def test_commits_leave_checkpoints_to_the_thread(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'wal.db'}"
    engine = make_engine(url, checkpoint_in_background=True)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == SAFETY_NET_PAGES
        conn.execute(text("CREATE TABLE filler (id INTEGER PRIMARY KEY, body TEXT)"))
        conn.commit()
        for n in range(200):
            conn.execute(text("INSERT INTO filler (body) VALUES (:b)"), {"b": f"row {n} " * 50})
            conn.commit()
    checkpointer = WalCheckpointer(engine)
    busy, in_log, copied = checkpointer.checkpoint()
    assert busy == 0 and in_log > 0 and copied == in_log  # nothing had copied them before
    engine.dispose()
    # The default engine (scripts, the CLI) keeps SQLite's own 1,000-page checkpoints.
    plain = make_engine(url)
    with plain.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000
    plain.dispose()


def test_the_thread_checkpoints_until_stopped(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'wal.db'}"
    _write_some(url, 5)
    engine = make_engine(url, checkpoint_in_background=True)
    done = threading.Event()

    class Counting(WalCheckpointer):
        def checkpoint(self) -> tuple[int, int, int]:
            result = super().checkpoint()
            done.set()
            return result

    checkpointer = Counting(engine, every=0.01)
    checkpointer.start()
    try:
        assert done.wait(5)
    finally:
        checkpointer.stop()
    assert not any(t.name == "wal-checkpoint" for t in threading.enumerate())
    engine.dispose()


def test_the_app_runs_the_threads_while_it_serves(settings: Settings) -> None:
    """The log's checkpoints and the search index's catch-up (inbox/search_index.py)."""

    def running() -> bool:
        names = {t.name for t in threading.enumerate()}
        return bool(names & {"wal-checkpoint", "search-index"})

    with TestClient(create_app(settings)):
        names = {t.name for t in threading.enumerate()}
        assert {"wal-checkpoint", "search-index"} <= names
    deadline = time.monotonic() + 5
    while running() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not running()
