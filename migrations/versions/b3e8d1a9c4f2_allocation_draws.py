"""allocation draws: a service's verifiable draw (seed committed by its SHA-256), and each
application's rank in it

Revision ID: b3e8d1a9c4f2
Revises: d2f4c17f7231
Create Date: 2026-12-07 13:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b3e8d1a9c4f2'
down_revision = 'd2f4c17f7231'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('allocation_draws',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('service_code', sa.String(length=40), nullable=False),
    sa.Column('algorithm', sa.String(length=40), nullable=False),
    sa.Column('commitment', sa.String(length=64), nullable=False),
    sa.Column('seed', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('drawn_at', sa.DateTime(), nullable=True),
    sa.Column('applications', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_allocation_draws')),
    sa.UniqueConstraint('service_code', name=op.f('uq_allocation_draws_service_code'))
    )
    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('draw_rank', sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.drop_column('draw_rank')
    op.drop_table('allocation_draws')
