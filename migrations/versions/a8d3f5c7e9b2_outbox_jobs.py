"""outbox_jobs: confirmations recorded in the transaction that decided them, then relayed to the
jobs backend and run exactly once (nothing lost when a process or Redis dies after the commit)

Revision ID: a8d3f5c7e9b2
Revises: f3b6d8e1a2c4
Create Date: 2026-12-07 19:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a8d3f5c7e9b2'
down_revision = 'f3b6d8e1a2c4'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'outbox_jobs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('path', sa.String(length=200), nullable=False),
        sa.Column('args', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('relayed_at', sa.DateTime(), nullable=True),
        sa.Column('relays', sa.Integer(), server_default='0', nullable=False),
        sa.Column('done_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_jobs')),
    )
    op.create_index('ix_outbox_jobs_done_at_id', 'outbox_jobs', ['done_at', 'id'], unique=False)


def downgrade():
    op.drop_index('ix_outbox_jobs_done_at_id', table_name='outbox_jobs')
    op.drop_table('outbox_jobs')
