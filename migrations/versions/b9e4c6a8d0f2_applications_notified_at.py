"""applications.notified_at: when the family's confirmation of the decision was sent; a decided
application without it is a message still owed (sent again after a crash, exactly once)

Revision ID: b9e4c6a8d0f2
Revises: a8d3f5c7e9b2
Create Date: 2026-12-07 19:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b9e4c6a8d0f2'
down_revision = 'a8d3f5c7e9b2'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('notified_at', sa.DateTime(), nullable=True))
        batch_op.create_index('ix_applications_notified_at', ['notified_at'], unique=False)
    # Decided before this revision: their messages went out then.
    op.execute("UPDATE applications SET notified_at = decided_at WHERE decided_at IS NOT NULL")


def downgrade():
    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.drop_index('ix_applications_notified_at')
        batch_op.drop_column('notified_at')
