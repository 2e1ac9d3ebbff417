"""allocation by points and weighted draws: each application's points (with the criteria met)
and its weight in the draw

Revision ID: c4a9e2f7b1d3
Revises: b3e8d1a9c4f2
Create Date: 2026-12-07 15:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c4a9e2f7b1d3'
down_revision = 'b3e8d1a9c4f2'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('draw_weight', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('points', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('points_detail', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.drop_column('points_detail')
        batch_op.drop_column('points')
        batch_op.drop_column('draw_weight')
