"""Outbox parts sent: a reply sent in several requests resumes where it failed, after a restart

A long reply, or one with files, goes out as several requests. The parts that went out before
a failure were remembered in the worker's memory only, so a retry after a restart (or on
another worker) sent the customer the first parts twice. Entries from before this migration
start with none recorded.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 09:10:00.000000
"""

import sqlalchemy as sa
from alembic import op


revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(
            sa.Column("parts_sent", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("parts_sent")
