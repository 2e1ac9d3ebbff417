"""waiting list offers: join time and offer deadline on registrations

Revision ID: b7c41e0a9d2f
Revises: 5d1e31fbe2d5
Create Date: 2026-11-22 12:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b7c41e0a9d2f'
down_revision = '5d1e31fbe2d5'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('waitlisted_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('offer_expires_at', sa.DateTime(), nullable=True))
    # Entries already waiting joined the list when they were made.
    op.execute("UPDATE registrations SET waitlisted_at = created_at WHERE status = 'waitlisted'")


def downgrade():
    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.drop_column('offer_expires_at')
        batch_op.drop_column('waitlisted_at')
