"""Alembic environment: the URL comes from the caller (inbox.migrate) or DATABASE_URL."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import inbox.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from inbox.db import make_engine
from inbox.migrate import not_drift
from inbox.settings import Settings

config = context.config
target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=False,
            include_object=not_drift,
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url") or Settings().database_url
    engine = make_engine(url)
    with engine.connect() as conn:
        context.configure(
            connection=conn,
            target_metadata=target_metadata,
            render_as_batch=False,
            include_object=not_drift,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
