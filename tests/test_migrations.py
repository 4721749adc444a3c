"""The migrations build exactly the tables the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from inbox.db import make_engine
from inbox.migrate import drift


def test_the_migrated_database_matches_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        assert drift(engine) == []
    finally:
        engine.dispose()
