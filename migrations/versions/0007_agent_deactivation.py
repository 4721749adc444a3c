"""agent deactivation: an admin can turn off the account of someone who left

Deleting the agent would orphan the messages, audit entries and reports that name them, so
the row stays and `deactivated_at` says since when they can no longer sign in or take work.
Every agent from before this migration is active.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 03:40:00.000000
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('agent') as batch:
        batch.add_column(sa.Column('deactivated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('agent') as batch:
        batch.drop_column('deactivated_at')
