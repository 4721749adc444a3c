"""The `handoff` command as an operator runs it (CONTRACT.md: command line).

Each command builds its own engine from `Settings()`, so the tests point `DATABASE_URL` at the
test database and then look at what a user of the app would see.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, inspect
from sqlmodel import Session, select
from starlette.testclient import TestClient

from inbox.cli import main
from inbox.clock import utcnow
from inbox.db import make_engine
from inbox.models import Agent, ApiToken, Conversation, Team
from tests.conftest import login

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def env_database(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DATABASE_URL", database_url)
    return database_url


# The demo's conversations of today; `seed-demo` says how many of the four weeks before them
# it added (their number varies with the weekdays they cover: inbox/demo_history.py).
DEMO_CONVERSATIONS = 25


def counts(url: str) -> tuple[int, int, int]:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return (
                session.exec(select(func.count()).select_from(Team)).one(),
                session.exec(select(func.count()).select_from(Agent)).one(),
                session.exec(select(func.count()).select_from(Conversation)).one(),
            )
    finally:
        engine.dispose()


def test_migrate_builds_a_new_database_and_running_it_again_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    assert main(["migrate"]) == 0
    engine = make_engine(url)
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert {"agent", "team", "conversation", "message", "api_token"} <= tables
    assert main(["migrate"]) == 0
    assert counts(url) == (0, 0, 0)


def test_migrate_on_a_database_in_use_keeps_its_data(env_database: str) -> None:
    assert main(["migrate"]) == 0
    assert main(["seed-demo"]) == 0
    seeded = counts(env_database)
    assert seeded[:2] == (5, 7) and seeded[2] > DEMO_CONVERSATIONS
    assert main(["migrate"]) == 0
    assert counts(env_database) == seeded


def test_created_user_gets_a_token_that_opens_the_api(
    env_database: str, app_client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(
            [
                "create-user",
                "--email",
                "Ops@Example.com",
                "--name",
                "Olga Ops",
                "--role",
                "admin",
                "--password",
                "a-long-password",
            ]
        )
        == 0
    )
    assert "ops@example.com" in capsys.readouterr().err
    assert main(["create-token", "--email", "ops@example.com"]) == 0
    token = capsys.readouterr().out.strip()
    assert token.startswith("hnd_") and "\n" not in token

    response = app_client.get("/api/v1/agents", headers={"authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    [olga] = response.json()["items"]
    assert olga["email"] == "ops@example.com" and olga["role"] == "admin"
    # Admin rights come with the token.
    created = app_client.post(
        "/api/v1/teams",
        headers={"authorization": f"Bearer {token}"},
        json={"name": "Night shift"},
    )
    assert created.status_code == 201, created.text

    # Revoked: the very next request is refused, though the server had it remembered.
    assert main(["revoke-tokens", "--email", "ops@example.com"]) == 0
    assert "Revoked 1 API token of ops@example.com" in capsys.readouterr().err
    refused = app_client.get("/api/v1/agents", headers={"authorization": f"Bearer {token}"})
    assert refused.status_code == 401, refused.text

    # Her browser is signed out the same way.
    login(app_client, "ops@example.com", "a-long-password")
    assert app_client.get("/inbox", follow_redirects=False).status_code == 200
    assert main(["sign-out", "--email", "ops@example.com"]) == 0
    assert "Every browser session of ops@example.com is ended" in capsys.readouterr().err
    assert app_client.get("/inbox", follow_redirects=False).status_code == 303


def test_seed_demo_if_empty_seeds_once(
    env_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["seed-demo", "--if-empty"]) == 0
    said = capsys.readouterr().err
    assert "admin@handoff.test" in said
    past = re.search(r"(\d+) past conversations, for the escalation report", said)
    assert past is not None and int(past.group(1)) > 0
    seeded = counts(env_database)
    assert seeded == (5, 7, DEMO_CONVERSATIONS + int(past.group(1)))
    assert main(["seed-demo", "--if-empty"]) == 0
    assert "not seeded" in capsys.readouterr().err
    assert counts(env_database) == seeded


@pytest.mark.parametrize("off", ["0", "false"])
def test_seed_demo_if_empty_leaves_the_database_empty_when_handoff_demo_is_off(
    env_database: str, off: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # CONTRACT.md: HANDOFF_DEMO (1: seed demo data on an empty database); `make run` runs
    # `seed-demo --if-empty`, so this is how a production install starts without the demo.
    monkeypatch.setenv("HANDOFF_DEMO", off)
    assert main(["seed-demo", "--if-empty"]) == 0
    assert "HANDOFF_DEMO is off; demo not seeded." in capsys.readouterr().err
    assert counts(env_database) == (0, 0, 0)
    # Asked for by name, the demo is seeded all the same.
    assert main(["seed-demo"]) == 0
    assert counts(env_database)[:2] == (5, 7)


def test_mistakes_exit_with_2_and_a_message(
    env_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    user = ["create-user", "--email", "a@example.com", "--name", "A", "--password", "pw-long-1"]
    with pytest.raises(SystemExit) as exited:
        main([*user, "--role", "wizard"])
    assert exited.value.code == 2
    assert "invalid choice: 'wizard'" in capsys.readouterr().err

    assert main(user) == 0
    assert main(user) == 2, "the same email twice"
    assert "exists" in capsys.readouterr().err
    assert main(["create-token", "--email", "nobody@example.com"]) == 2
    assert "no agent" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        main(["create-token", "--email", "a@example.com", "--expires-days", "0"])
    assert exited.value.code == 2 and "at least 1" in capsys.readouterr().err
    assert counts(env_database)[1] == 1


def test_the_console_script_shows_no_traceback_for_a_bad_role(env_database: str) -> None:
    result = subprocess.run(
        [
            *(sys.executable, "-m", "inbox.cli", "create-user", "--email", "a@example.com"),
            *("--name", "A", "--password", "pw-long-1", "--role", "wizard"),
        ],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": env_database},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "--role" in result.stderr


def test_a_token_can_be_made_to_expire(env_database: str) -> None:
    user = ["create-user", "--email", "a@example.com", "--name", "A", "--password", "pw-long-1"]
    assert main(user) == 0
    assert main(["create-token", "--email", "a@example.com", "--expires-days", "90"]) == 0
    with Session(make_engine(env_database)) as session:
        [row] = session.exec(select(ApiToken)).all()
        assert row.expires_at is not None
        days = (row.expires_at - utcnow()).total_seconds() / 86400
        assert 89.9 < days <= 90
