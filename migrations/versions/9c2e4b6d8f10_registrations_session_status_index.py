"""index on registrations (session_id, status): the capacity count of every booking

Revision ID: 9c2e4b6d8f10
Revises: f1a2b3c4d5e6
Create Date: 2026-11-22 14:45:00.000000

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '9c2e4b6d8f10'
down_revision = 'f1a2b3c4d5e6'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.create_index('ix_registrations_session_id_status', ['session_id', 'status'], unique=False)


def downgrade():
    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.drop_index('ix_registrations_session_id_status')
