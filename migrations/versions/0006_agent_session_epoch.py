"""agent session epoch: end an agent's browser sessions (`handoff sign-out`)

A browser session is a signed cookie, which cannot be taken back once given. Each session now
remembers the agent's epoch at sign-in; raising it ends every one of them. Sessions signed in
before this migration carry none and count as epoch 0, so nobody is signed out by upgrading.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 22:00:00.000000
"""
import sqlalchemy as sa
from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('agent') as batch:
        batch.add_column(sa.Column('session_epoch', sa.Integer(), nullable=False, server_default='0'))


def downgrade() -> None:
    with op.batch_alter_table('agent') as batch:
        batch.drop_column('session_epoch')
