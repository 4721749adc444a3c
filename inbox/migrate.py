"""Run Alembic migrations from code, for `handoff migrate`, `make run` and the tests."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

ROOT = Path(__file__).resolve().parent.parent


def not_drift(obj: object, name: str | None, type_: str, reflected: bool, other: object) -> bool:
    """Alembic's filter: full-text search (SQLite's FTS5 tables and the index's progress
    marks, PostgreSQL's GIN indexes), made by migrations 0001 and 0011 and not by the
    models, is not drift."""
    return not (
        type_ in ("table", "index")
        and name is not None
        and ("_fts" in name or name == "fts_progress")
    )


def drift(engine: Engine) -> list[object]:
    """What the models have that the migrated database lacks, or the other way round."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlmodel import SQLModel

    import inbox.models  # noqa: F401  (registers the tables)

    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"include_object": not_drift, "compare_type": True}
        )
        return list(compare_metadata(context, SQLModel.metadata))


def alembic_config() -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    return config


def upgrade(engine: Engine) -> None:
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
