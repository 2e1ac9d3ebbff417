"""submission_keys.fingerprint: what the request asked, so a key sent again with another request
is refused instead of silently answering with the first booking

Revision ID: e7c2a9d4f1b8
Revises: d5b1f3a8c2e6
Create Date: 2026-12-07 19:05:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e7c2a9d4f1b8'
down_revision = 'd5b1f3a8c2e6'
branch_labels = None
depends_on = None


def upgrade():
    # Nullable: keys saved before this revision have none, and are replayed as before.
    with op.batch_alter_table('submission_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('fingerprint', sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table('submission_keys', schema=None) as batch_op:
        batch_op.drop_column('fingerprint')
