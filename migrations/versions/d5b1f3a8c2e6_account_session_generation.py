"""accounts.session_generation: raised by a log-out, a password change or an administrator's
"end all sessions", it ends every session and remember-me cookie issued before

Revision ID: d5b1f3a8c2e6
Revises: c4a9e2f7b1d3
Create Date: 2026-12-07 16:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd5b1f3a8c2e6'
down_revision = 'c4a9e2f7b1d3'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_generation', sa.Integer(), server_default='0', nullable=False))


def downgrade():
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_column('session_generation')
