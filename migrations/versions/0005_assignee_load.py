"""assignee load: count an agent's open conversations from the index alone

Routing counts each team member's open conversations (least busy, capacity caps). With only
(assignee_id, last_activity_at, id) indexed, every one of them was read from the table to
check its status: 25,000 rows for a team of ten holding 2,500 each.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 18:45:00.000000
"""
from alembic import op


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_conversation_assignee_status', 'conversation', ['assignee_id', 'status'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_conversation_assignee_status', table_name='conversation')
