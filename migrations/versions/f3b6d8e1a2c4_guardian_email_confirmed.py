"""guardians.email_confirmed_at: a guardian's address receives the household's messages only once
its owner confirmed it by the e-mailed link; addresses confirmed by signing up count as confirmed

Revision ID: f3b6d8e1a2c4
Revises: e7c2a9d4f1b8
Create Date: 2026-12-07 19:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f3b6d8e1a2c4'
down_revision = 'e7c2a9d4f1b8'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('guardians', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_confirmed_at', sa.DateTime(), nullable=True))
    # A sign-up is confirmed by a link sent to the address, so the account holder's own address is
    # confirmed. Any other address was typed by someone: it waits for its owner's confirmation.
    op.execute(
        "UPDATE guardians SET email_confirmed_at = CURRENT_TIMESTAMP WHERE email IS NOT NULL AND EXISTS ("
        "SELECT 1 FROM accounts WHERE accounts.guardian_id = guardians.id"
        " AND lower(accounts.email) = lower(guardians.email))"
    )


def downgrade():
    with op.batch_alter_table('guardians', schema=None) as batch_op:
        batch_op.drop_column('email_confirmed_at')
