"""SLA clock: cycle start, amber moment and next-response wait on the conversation.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 09:00:00.000000
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTERs: a batch copy would drop the FTS triggers on SQLite.
    op.add_column('conversation', sa.Column('sla_started_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    op.add_column('conversation', sa.Column('sla_warn_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    op.add_column('conversation', sa.Column('next_response_since', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    # Conversations from before the clock existed count their cycle from when they opened.
    op.execute("UPDATE conversation SET sla_started_at = created_at WHERE status <> 'resolved'")


def downgrade() -> None:
    # SQLite (3.35+) and PostgreSQL both drop a plain column in place; no table copy.
    op.execute('ALTER TABLE conversation DROP COLUMN next_response_since')
    op.execute('ALTER TABLE conversation DROP COLUMN sla_warn_at')
    op.execute('ALTER TABLE conversation DROP COLUMN sla_started_at')
