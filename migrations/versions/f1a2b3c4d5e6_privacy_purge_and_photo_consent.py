"""privacy: purge tracking, nullable household on anonymised registrations, photo consent

Revision ID: f1a2b3c4d5e6
Revises: a3c5e7f90b12
Create Date: 2026-11-22 15:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f1a2b3c4d5e6'
down_revision = 'a3c5e7f90b12'
branch_labels = None
depends_on = None


# PostgreSQL: the audit log is append-only in the database too (raw SQL included); only the
# retention purge, inside inscriptions.models.audit.retention_purge(), may delete rows.
AUDIT_TRIGGER = """
CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'DELETE' AND current_setting('inscriptions.audit_purge', true) = 'on' THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'audit_events is append-only (% refused)', TG_OP;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
"""


def upgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(AUDIT_TRIGGER)
    op.create_table('photo_consents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('child_id', sa.Integer(), nullable=False),
    sa.Column('service_code', sa.String(length=40), nullable=False),
    sa.Column('given_at', sa.DateTime(), nullable=False),
    sa.Column('given_by_id', sa.Integer(), nullable=True),
    sa.Column('withdrawn_at', sa.DateTime(), nullable=True),
    sa.Column('withdrawn_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['child_id'], ['children.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['given_by_id'], ['accounts.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['withdrawn_by_id'], ['accounts.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('photo_consents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_photo_consents_child_id'), ['child_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_photo_consents_service_code'), ['service_code'], unique=False)

    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deletion_warned_at', sa.DateTime(), nullable=True))

    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('anonymised_at', sa.DateTime(), nullable=True))
        batch_op.alter_column('household_id', existing_type=sa.Integer(), nullable=True)


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events')
        op.execute('DROP FUNCTION IF EXISTS audit_events_append_only()')
    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.alter_column('household_id', existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column('anonymised_at')

    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_column('deletion_warned_at')

    with op.batch_alter_table('photo_consents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_photo_consents_service_code'))
        batch_op.drop_index(batch_op.f('ix_photo_consents_child_id'))

    op.drop_table('photo_consents')
