"""SQLite's full-text index catches up in batches instead of in every insert's commit

A new message or contact waits above a mark (`fts_progress.indexed_to`) until
inbox/search_index.py indexes it, a batch at a time; search brings the index up to date
before it reads it. The triggers keep the rule that every row at or below the mark is
indexed and none above it: an insert at or below the mark (a reused id) is indexed at once,
an edit or a deletion touches the index only for a row in it. PostgreSQL: nothing changes.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-24 02:00:00.000000
"""

from alembic import op


revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# (table, its FTS table, the indexed columns)
INDEXED = (("message", "message_fts", ("content",)), ("contact", "contact_fts", ("name", "email")))


def _triggers(table: str, fts: str, columns: tuple[str, ...], when: str) -> list[str]:
    """The three triggers of migration 0001, each firing only `when` (old./new. rows)."""
    names = ", ".join(columns)
    new = ", ".join(f"new.{c}" for c in columns)
    old = ", ".join(f"old.{c}" for c in columns)
    delete = f"INSERT INTO {fts}({fts}, rowid, {names}) VALUES ('delete', old.id, {old});"
    insert = f"INSERT INTO {fts}(rowid, {names}) VALUES (new.id, {new});"
    update_of = ", ".join(columns)

    def guard(row: str) -> str:
        return f" WHEN {when.format(row=row)}" if when else ""

    return [
        f"CREATE TRIGGER {fts}_ai AFTER INSERT ON {table}{guard('new')} BEGIN {insert} END",
        f"CREATE TRIGGER {fts}_ad AFTER DELETE ON {table}{guard('old')} BEGIN {delete} END",
        f"CREATE TRIGGER {fts}_au AFTER UPDATE OF {update_of} ON {table}{guard('old')} "
        f"BEGIN {delete} {insert} END",
    ]


def _drop_triggers(fts: str) -> None:
    for suffix in ("ai", "ad", "au"):
        op.execute(f"DROP TRIGGER IF EXISTS {fts}_{suffix}")


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(
        "CREATE TABLE fts_progress (name VARCHAR(40) NOT NULL PRIMARY KEY, "
        "indexed_to INTEGER NOT NULL)"
    )
    for table, fts, columns in INDEXED:
        # Every row so far was indexed by the old triggers.
        op.execute(
            f"INSERT INTO fts_progress (name, indexed_to) "
            f"SELECT '{table}', coalesce(max(id), 0) FROM {table}"
        )
        _drop_triggers(fts)
        below = f"{{row}}.id <= (SELECT indexed_to FROM fts_progress WHERE name = '{table}')"
        for statement in _triggers(table, fts, columns, below):
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table, fts, columns in INDEXED:
        names = ", ".join(columns)
        op.execute(
            f"INSERT INTO {fts}(rowid, {names}) SELECT id, {names} FROM {table} "
            f"WHERE id > (SELECT indexed_to FROM fts_progress WHERE name = '{table}')"
        )
        _drop_triggers(fts)
        for statement in _triggers(table, fts, columns, ""):
            op.execute(statement)
    op.execute("DROP TABLE fts_progress")
