"""API token expiry: a token can be made to stop working on a given day

A token for a one-off script or a trial integration should not work forever. Tokens from before
this migration keep working until revoked, as they always did.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 06:40:00.000000
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('api_token') as batch:
        batch.add_column(sa.Column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('api_token') as batch:
        batch.drop_column('expires_at')
