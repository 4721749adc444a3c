"""Saved replies: the answers agents type every day, kept once and inserted with /shortcut

One row per reply: shared with everyone (no team) or kept for one team, whose deletion takes
its replies along. A shortcut is unique within its team; the shared replies' shortcuts need a
partial index of their own, since a unique constraint counts each NULL team as different.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 10:00:00.000000
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "saved_reply",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shortcut", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("content", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["team_id"], ["team.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["created_by_id"], ["agent.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("team_id", "shortcut", name="uq_saved_reply_team_shortcut"),
    )
    op.create_index(
        "uq_saved_reply_shared_shortcut",
        "saved_reply",
        ["shortcut"],
        unique=True,
        sqlite_where=sa.text("team_id IS NULL"),
        postgresql_where=sa.text("team_id IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_saved_reply_shared_shortcut", table_name="saved_reply")
    op.drop_table("saved_reply")
