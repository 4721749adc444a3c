"""Shared fixtures: a migrated database (SQLite, or the real PostgreSQL `make test` starts),
the app with its TestClient, a memory bus and captured events.

HANDOFF_TEST_DATABASE=postgresql runs the same tests against PostgreSQL on
127.0.0.1:$HANDOFF_TEST_PG_PORT (scripts/services.sh starts it).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlmodel import Session
from starlette.testclient import TestClient

from inbox.bus import MemoryBus
from inbox.db import Database, make_engine
from inbox.events import Event
from inbox.links import set_public_base
from inbox.migrate import upgrade
from inbox.settings import Settings
from main import create_app

BACKEND = os.environ.get("HANDOFF_TEST_DATABASE", "sqlite")
PG_PORT = os.environ.get("HANDOFF_TEST_PG_PORT", "54329")
PG_ADMIN_URL = f"postgresql+psycopg://postgres@127.0.0.1:{PG_PORT}/postgres"
PG_TEST_DB = f"handoff_test_{os.getpid()}"


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Migrate once per run; each test starts from a copy (SQLite) or emptied tables (PG)."""
    if BACKEND == "postgresql":
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {PG_TEST_DB}"))
            conn.execute(text(f"CREATE DATABASE {PG_TEST_DB}"))
        url = f"postgresql://postgres@127.0.0.1:{PG_PORT}/{PG_TEST_DB}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {PG_TEST_DB} WITH (FORCE)"))
        admin.dispose()
    else:
        path = tmp_path_factory.mktemp("template") / "template.db"
        engine = make_engine(f"sqlite:///{path}")
        upgrade(engine)
        engine.dispose()
        yield str(path)


def _empty_postgres(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        tables = (
            conn.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename <> 'alembic_version'"
                )
            )
            .scalars()
            .all()
        )
        conn.execute(
            text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE")
        )
    engine.dispose()


@pytest.fixture
def database_url(migrated_template: str, tmp_path: Path) -> str:
    if BACKEND == "postgresql":
        _empty_postgres(migrated_template)
        return migrated_template
    target = tmp_path / "handoff.db"
    shutil.copyfile(migrated_template, target)
    return f"sqlite:///{target}"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key="test-secret",
        demo=False,
        heartbeat_seconds=0.5,
        login_rate_limit="5/minute",
        widget_rate_limit="30/minute",
        replay_buffer=200,
        # No SMTP listener per app in tests: email tests open their own on a free port.
        smtp_port=0,
    )


@pytest.fixture
def bus() -> MemoryBus:
    return MemoryBus(replay_buffer=1000, backlog=100)


@pytest.fixture
def db(settings: Settings, bus: MemoryBus) -> Iterator[Database]:
    database = Database(make_engine(settings.database_url), bus)
    yield database
    database.engine.dispose()


@pytest.fixture
def session(db: Database) -> Iterator[Session]:
    with db.session() as s:
        yield s


@pytest.fixture
def events(bus: MemoryBus) -> list[Event]:
    """Every event published on the domain-test bus, in order."""
    seen: list[Event] = []
    bus.add_enricher(seen.append)
    return seen


@pytest.fixture
def app_client(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings)
    with TestClient(app, base_url="http://testserver") as client:
        yield client


def csrf_headers(client: TestClient) -> dict[str, str]:
    """What the agent UI's JavaScript sends: the csrftoken cookie echoed as a header."""
    if not client.cookies.get("csrftoken"):
        client.get("/login")
    return {"x-csrftoken": client.cookies.get("csrftoken") or "", "hx-request": "true"}


def login(client: TestClient, email: str, password: str = "pw-123456") -> None:
    client.get("/login")
    response = client.post(
        "/login", data={"email": email, "password": password}, follow_redirects=False
    )
    assert response.status_code == 303, response.text


@pytest.fixture(autouse=True)
def _public_links() -> Iterator[None]:
    """Customer links start at the app's address; an app built by one test (say behind a
    proxy) must not change the links another test reads."""
    set_public_base("http://127.0.0.1:8000")
    yield
    set_public_base("http://127.0.0.1:8000")
